FLASK_APP=example_petstore.app
FLASK_ENV=local
