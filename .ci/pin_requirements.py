"""Write requirements.txt and requirements-dev.txt from what is installed in the venv (`make pin`).

requirements.txt pins the runtime roots below and everything they depend on; requirements-dev.txt
starts with ``-r requirements.txt`` and pins every other installed distribution (pip and setuptools
aside). Add a new runtime dependency to ROOTS; a test or tool needs nothing here.
"""
from importlib.metadata import distributions
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as canon

ROOTS = ["Flask", "Flask-SQLAlchemy", "Flask-Migrate", "Flask-WTF", "Flask-Login", "Flask-Limiter",
         "flask-babel", "email-validator", "geopy", "phonenumbers", "python-slugify", "zipcodes",
         "psycopg[binary]", "redis", "gunicorn", "jsonschema", "SQLAlchemy", "alembic", "click",
         "Werkzeug", "WTForms", "Babel", "referencing", "jsonschema_rs", "orjson", "numpy", "rapidfuzz"]
EXCLUDE = {"pip", "setuptools"}
dists = {canon(d.metadata["Name"]): d for d in distributions()}

def closure(roots):
    seen = {}
    todo = [Requirement(r) for r in roots]
    while todo:
        req = todo.pop()
        name = canon(req.name)
        if name not in dists:
            continue
        extras = set(req.extras)
        prev = seen.get(name)
        if prev is not None and extras <= prev:
            continue
        seen[name] = (prev or set()) | extras
        for dep in dists[name].requires or []:
            d = Requirement(dep)
            env_ok = True
            if d.marker:
                env_ok = any(d.marker.evaluate({"extra": e}) for e in (seen[name] or {""})) 
            if env_ok:
                todo.append(d)
    return set(seen)

runtime = closure(ROOTS)
def pin(name):
    d = dists[name]
    return f'{d.metadata["Name"]}=={d.version}'
rt = sorted((n for n in runtime if n not in EXCLUDE), key=str)
dev = sorted((n for n in dists if n not in runtime and n not in EXCLUDE), key=str)
with open("requirements.txt", "w") as f:
    f.write("# Runtime: every distribution the app needs, indirect ones included, pinned (DESIGN.md → Tests, CI and\n"
            "# dependencies). Regenerate from the venv after adding a package; see requirements-dev.txt for tools.\n")
    f.write("\n".join(pin(n) for n in rt) + "\n")
with open("requirements-dev.txt", "w") as f:
    f.write("# Tests and tools, on top of the runtime pins; every remaining distribution pinned.\n-r requirements.txt\n")
    f.write("\n".join(pin(n) for n in dev) + "\n")
print(len(rt), "runtime;", len(dev), "dev")
