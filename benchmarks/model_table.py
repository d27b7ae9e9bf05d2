"""The model table of the original torch2trt README, measured here (the benchmark is torch2trt.bench, part of
the installed package; `torch2trt bench --help` lists its options).

    python benchmarks/model_table.py --out docs/benchmarks            # the 20 models, batch 1, 224x224
"""

import sys

from torch2trt.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
