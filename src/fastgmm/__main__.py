"""``python -m fastgmm``: the ``fastgmm`` command line (see ``fastgmm._cli``)."""

from ._cli import console_main

if __name__ == "__main__":
    console_main()
