# Shortcuts for the two README commands (which need only Python: python3 dev.py run|test).
.PHONY: run test install lint messages

run:
	python3 dev.py run

test:
	python3 dev.py test

install:
	python3 dev.py install

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

messages:
	.venv/bin/python manage.py makemessages -l zh_Hans --ignore ".venv/*" --ignore "var/*" --ignore "tests/*"
	.venv/bin/python manage.py compilemessages --ignore ".venv/*"
