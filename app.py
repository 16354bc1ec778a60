"""The WSGI entry point: ``flask`` finds ``app`` here, gunicorn serves ``app:app``."""
from kapfinder import create_app

app = create_app()
