/* "Use my location": asks the browser for its position and fills the location field with
   "lat,lon" (4 decimals, about 10 m). Progressive enhancement: the button stays hidden without
   JavaScript; nothing is sent anywhere until the patient submits the form to kapfinder itself. */
(function () {
  "use strict";

  function setUp(box) {
    var field = document.getElementById(box.getAttribute("data-location-field"));
    var button = box.querySelector(".use-location-button");
    var status = box.querySelector(".use-location-status");
    if (!field || !button || !status) return;

    function say(key) {
      status.textContent = box.getAttribute("data-" + key) || "";
      status.className = "use-location-status is-" + key;
    }

    button.addEventListener("click", function () {
      if (!("geolocation" in navigator)) {
        say("unsupported");
        return;
      }
      button.disabled = true;
      say("locating");
      navigator.geolocation.getCurrentPosition(function (position) {
        var lat = position.coords.latitude.toFixed(4);
        var lon = position.coords.longitude.toFixed(4);
        field.value = lat + "," + lon;
        button.disabled = false;
        say("found");
        field.focus();
      }, function (error) {
        button.disabled = false;
        say(error && error.code === 1 ? "denied" : "failed");
      }, { enableHighAccuracy: false, timeout: 15000, maximumAge: 600000 });
    });
    box.hidden = false;
  }

  var boxes = document.querySelectorAll(".use-location[data-location-field]");
  for (var i = 0; i < boxes.length; i++) setUp(boxes[i]);
})();
