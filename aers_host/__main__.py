"""``python -m aers_host``: the ``aers`` command, for environments without the script."""

from aers_host.cli import main

if __name__ == "__main__":
    main()
