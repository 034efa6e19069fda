# Shortcuts for the two README commands (which need only Python: python3 dev.py run|test).
# Options go in ARGS: make run ARGS="--port 8001", make test ARGS="-k readyz -x".
.PHONY: run test install lint messages

run:
	python3 dev.py run $(ARGS)

test:
	python3 dev.py test $(ARGS)

install:
	python3 dev.py install

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

messages:
	.venv/bin/python manage.py makemessages -l zh_Hans --ignore ".venv/*" --ignore "var/*" --ignore "tests/*"
	.venv/bin/python manage.py compilemessages --ignore ".venv/*"
