"""python -m odpipe.cli"""

from odpipe.cli import main

main()
