"""The EXAMPLES and ENVIRONMENT sections of the man pages (``actcode.cli._manpages`` adds them)."""

from __future__ import annotations

from collections.abc import Callable

#: Environment variables every command reads, with what they do.
ENVIRONMENT: dict[str, str] = {
    "ACTCODE_DATA": "Folder of the datasets' standard files (MNIST's IDX .gz files, CIFAR's python batches, "
    "...), where --data-root is not given. Default: ~/.cache/actcode/data.",
    "ACTCODE_MAX_MEMORY": "The most memory one input may make actcode allocate, as a size such as 8GiB or "
    "500MB; every size check (options, checkpoint configs, --random N, data files, decompressed arrays) "
    "refuses larger. Default: the memory available when the command starts.",
    "MPLBACKEND": "Matplotlib's backend; charts are written without a display whatever it is.",
}

#: Per page (as ``actcode-chart-curves``): example command lines, each after a one-line comment.
EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "actcode": [
        (
            "The study's pipeline on the bundled digits, one command's paths into the next",
            "actcode train --width 64 --epochs 20 --save-at 0,1,3,10,20 | actcode extract | actcode measure "
            "| actcode probe | actcode chart curves --x epoch --y redundancy -o time.png",
        ),
        ("Quiet, with the global option after the subcommand", "actcode train --width 8 -q"),
    ],
    "actcode-train": [
        (
            "A 64-unit MLP on digits, checkpoints at epochs 0, 1, 3, 10 and 20",
            "actcode train --width 64 --epochs 20 --save-at 0,1,3,10,20",
        ),
        (
            "The first 300 examples, repeated to the full epoch length, with early stopping",
            "actcode train --sample-size 300 --sample-order first --tile --early-stop 5 --epochs 100",
        ),
    ],
    "actcode-extract": [
        (
            "Codes of the training and test sets and of 500 random inputs",
            "actcode extract runs/*.pt --random 500",
        ),
        (
            "A torchvision ResNet-18 fine-tuned to 10 classes, on a folder of images",
            "actcode extract --model torchvision:resnet18 --weights my.pth --dataset imagefolder:pics",
        ),
    ],
    "actcode-measure": [("Every code file of a folder", "ls runs/*.h5 | actcode measure")],
    "actcode-probe": [("K-NN with 5 neighbours only", "actcode probe runs/*.h5 --probes knn --k 5")],
    "actcode-regions": [
        (
            "Region counts along chords, local complexity and the code kernels",
            "actcode regions runs/*.h5 --analyses lines,local,kernel",
        ),
    ],
    "actcode-chart-curves": [
        (
            "R and K-NN accuracy against width, one line per epoch",
            "actcode chart curves runs/*.h5 --x width --hue epoch --y redundancy_test,knn_test -o w.png",
        ),
        (
            "An early-stopped sample-size sweep, at each run's final epoch",
            "actcode sweep n.toml | actcode chart curves --x sample_size --at final -o n.png",
        ),
    ],
    "actcode-chart-phase": [
        (
            "The phase chart over width and epoch",
            "actcode chart phase runs/*.h5 --x width --y epoch -o phase.png",
        ),
    ],
    "actcode-chart-regions": [("One exact 2-D slice", "actcode chart regions run.h5 -o slice.png")],
    "actcode-sweep": [
        (
            "Run a spec's grid on 2 local processes, then chart it",
            "actcode sweep examples/model_size.toml --jobs 2 | actcode chart curves --x width -o w.png",
        ),
        ("Where each cell of a sweep stands", "actcode sweep status out/model_size-digits"),
    ],
    "actcode-table": [
        ("Every result of a sweep as CSV", "actcode table out/model_size-digits -o results.csv")
    ],
    "actcode-info": [("What a code file holds", "actcode info run.h5")],
    "actcode-validate": [("Check files against the format spec", "actcode validate runs/*.h5")],
    "actcode-merge": [("Stitch 4 shards", "actcode merge run.shard-*-of-4.h5 -o run.h5")],
}


def extra_sections(page: str, esc: Callable[[str], str]) -> list[str]:
    """The roff lines of ``page``'s EXAMPLES (when it has some) and ENVIRONMENT sections."""
    out: list[str] = []
    if page in EXAMPLES:
        out.append(".SH EXAMPLES")
        for comment, command in EXAMPLES[page]:
            out += [".TP", f"\\fB{esc(command)}\\fR", esc(comment) + "."]
    out.append(".SH ENVIRONMENT")
    for name, text in ENVIRONMENT.items():
        out += [".TP", f"\\fB{name}\\fR", esc(text)]
    return out
