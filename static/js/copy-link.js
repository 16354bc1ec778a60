/* "Copy link to this page" and "Print this page": shown only when JavaScript runs. The link is
   the page's own address (a GET URL with every search choice in it). */
(function () {
  "use strict";

  function setUpCopy(box) {
    var button = box.querySelector(".copy-link-button");
    var input = box.querySelector(".copy-link-url");
    var status = box.querySelector(".copy-link-status");
    if (!button || !input || !status) return;
    input.value = window.location.href;

    function say(key) {
      status.textContent = box.getAttribute("data-" + key) || "";
    }

    function showAddress() {
      // Fallback: let the patient copy the address by hand.
      input.hidden = false;
      input.focus();
      input.select();
    }

    button.addEventListener("click", function () {
      var url = window.location.href;
      input.value = url;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(url).then(function () { say("copied"); }, function () {
          say("failed");
          showAddress();
        });
        return;
      }
      showAddress();
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
      say(copied ? "copied" : "failed");
    });
    box.hidden = false;
  }

  var boxes = document.querySelectorAll(".copy-link");
  for (var i = 0; i < boxes.length; i++) setUpCopy(boxes[i]);

  var printers = document.querySelectorAll(".print-button");
  for (var j = 0; j < printers.length; j++) {
    printers[j].addEventListener("click", function () { window.print(); });
    printers[j].hidden = false;
  }
})();
