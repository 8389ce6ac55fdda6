"""The ``aggspec`` command: argument parsing and wiring, nothing else."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aggspec.api import build_spec, read_source, source_name
from aggspec.cli.outputs import check_output, writing
from aggspec.cli.summary import summarize
from aggspec.errors import AggSpecError
from aggspec.ir import Limits
from aggspec.lang.params import Override, parse_define, parse_sweep
from aggspec.spec import Spec

if TYPE_CHECKING:
    from aggspec.analysis.report import Report

__all__ = ["main"]


def _add_spec_arguments(parser: argparse.ArgumentParser, several: bool = False) -> None:
    defaults = Limits()
    if several:
        parser.add_argument(
            "specs", nargs="+", metavar="SPEC", help="the .agg file (with --sweep: one or more)"
        )
    else:
        parser.add_argument("spec", help="the .agg file")
    parser.add_argument(
        "-D",
        dest="defines",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a param (e.g. -D depth=40 -D growth=[16,32,64]); repeatable",
    )
    for field, help_text in _LIMIT_OPTIONS.items():
        default = getattr(defaults, field)
        parser.add_argument(
            "--" + field.replace("_", "-"),
            type=_limit,
            default=default,
            metavar="N",
            help=f"{help_text} (default {default:,})",
        )


# Each aggspec.Limits field is a --max-... option of every command that reads a spec.
_LIMIT_OPTIONS = {
    "max_layers": "refuse networks of more than N layers",
    "max_connections": "refuse networks of more than N connections",
    "max_recursion": "refuse definitions nested deeper than N calls",
    "max_steps": "stop elaborating after N statements",
    "max_work": "stop evaluating expressions after N steps of work (list elements count one each)",
    "max_nesting": "refuse specs nested deeper than N levels (brackets, blocks, chained operators)",
    "max_source_bytes": "refuse spec files longer than N bytes",
    "max_tensor_elements": "refuse values of more than N elements per sample (C x H x W)",
    "max_parameters": "refuse networks of more than N parameters",
}


def _limit(text: str) -> int:
    """A ``--max-...`` value: a whole number of at least 1."""
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(**{field: getattr(args, field) for field in _LIMIT_OPTIONS})


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aggspec",
        description="A language and compiler for the connectivity of deep networks.",
    )
    from aggspec import __version__  # the package root, already imported by the time this runs

    parser.add_argument("--version", action="version", version=f"aggspec {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="parse and elaborate a spec, print a summary",
        description="Parse and elaborate SPEC and print a one-screen summary; "
        "exit 2 with a located error on any mistake.",
    )
    _add_spec_arguments(check)
    compile_ = commands.add_parser(
        "compile",
        help="write a standalone PyTorch file for a spec",
        description="Compile SPEC to a standalone PyTorch file (an nn.Module subclass named after "
        "the network, and build()); it imports only torch.",
    )
    _add_spec_arguments(compile_)
    compile_.add_argument("-o", "--output", metavar="FILE", help="where to write the file (default: stdout)")
    compile_.add_argument(
        "--memory-efficient",
        action="store_true",
        help="recompute merges and pointwise ops in the backward pass instead of storing them",
    )
    compile_.add_argument(
        "--check",
        action="store_true",
        help="also import the file, run forward and backward on a random batch, and report",
    )
    compile_.add_argument(
        "--batch", type=int, default=2, metavar="N", help="batch size for --check (default 2)"
    )
    analyze = commands.add_parser(
        "analyze",
        help="fan-in, path lengths, connections, parameters, MACs and memory",
        description="Analyze SPEC: a table per layer and per stage (fan-in, hops between a stage's "
        "outputs, connections, parameters, MACs) and totals.",
    )
    _add_spec_arguments(analyze, several=True)
    analyze.add_argument("--json", action="store_true", help="print one JSON object (a list with --sweep)")
    analyze.add_argument("--full", action="store_true", help="list every layer of long stages")
    analyze.add_argument(
        "--training",
        action="store_true",
        help="also predict a training step's memory: activations kept per stage, parameters, "
        "gradients, optimizer state, estimated peak",
    )
    analyze.add_argument("--batch", type=int, metavar="B", help="batch size for --training (default 64)")
    analyze.add_argument(
        "--memory-efficient",
        action="store_true",
        help="with --training: as `train --memory-efficient` holds it (segments keep only their inputs)",
    )
    analyze.add_argument(
        "--sweep",
        metavar="NAME=V1,V2,...",
        help="analyze once per value of a param and show how each figure grows (e.g. depth=40,100,250)",
    )
    analyze.add_argument("--plot", metavar="OUT.png", help="with --sweep: draw the figures (matplotlib)")
    viz = commands.add_parser(
        "viz",
        help="draw a spec with graphviz, or its connectivity matrices",
        description="Draw SPEC to OUT (.svg, .png, .pdf, or .dot source, which needs no dot program), "
        "or with --matrix each stage's connectivity as a heat map (.png, .svg).",
    )
    _add_spec_arguments(viz)
    viz.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="the file to write; its extension picks the format",
    )
    viz.add_argument(
        "--level", choices=["layer", "stage", "op"], default="layer", help="detail (default: layer)"
    )
    viz.add_argument(
        "--rankdir", choices=["TB", "LR"], default="TB", help="top to bottom (default) or left to right"
    )
    viz.add_argument("--full", action="store_true", help="draw every layer of long stages")
    viz.add_argument("--matrix", action="store_true", help="draw connectivity matrices instead (matplotlib)")
    viz.add_argument(
        "--compare", metavar="OTHER.agg", help="with --matrix: draw this spec's matrices too, below"
    )
    _add_train_parsers(commands)
    plot = commands.add_parser(
        "plot",
        help="draw the training curves of one or several runs side by side",
        description="Draw the loss and accuracy per epoch (train dashed, validation solid) and the "
        "learning rate of each run folder written by aggspec train (its metrics.jsonl), one colour "
        "per run, to OUT (.png, .svg or .pdf).",
    )
    plot.add_argument("runs", nargs="+", metavar="RUN", help="a run folder (aggspec train --out DIR)")
    plot.add_argument("-o", "--output", required=True, metavar="OUT", help="the figure to write")
    plot.add_argument(
        "--labels",
        metavar="A,B,...",
        help="one legend label per run (default: each folder's name, or as much of its path as "
        "tells clashing names apart)",
    )
    for command in commands.choices.values():  # `aggspec compile --debug ...` works too
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


def _add_train_parsers(commands: Any) -> None:
    """``train`` and ``eval``; their defaults are the Python API's (``aggspec.train``)."""
    train = commands.add_parser(
        "train",
        help="train a spec on a data source, with checkpoints and resume",
        description="Train SPEC with the SparseNet paper's recipe (SGD, Nesterov momentum 0.9, weight "
        "decay 1e-4, lr / 10 at 50% and 75% of the epochs). Writes DIR/metrics.jsonl, "
        "DIR/last.safetensors, DIR/best.safetensors and DIR/last.state.pt after every epoch.",
    )
    _add_spec_arguments(train)
    _add_data_arguments(train, batch=64)
    train.add_argument("--epochs", type=int, default=10, metavar="N", help="epochs to train (default 10)")
    train.add_argument("--lr", type=float, default=0.1, metavar="LR", help="initial learning rate (0.1)")
    train.add_argument(
        "--schedule", choices=["step", "cosine"], default="step", help="lr schedule (default: step)"
    )
    train.add_argument(
        "--out", metavar="DIR", help="run folder (default: runs/NETWORK, or runs/NETWORK-2... if taken)"
    )
    train.add_argument(
        "--resume", action="store_true", help="continue the run in DIR from its last completed epoch"
    )
    train.add_argument("--compile", action="store_true", help="torch.compile the model")
    train.add_argument(
        "--memory-efficient",
        action="store_true",
        help="recompute merges and pointwise ops in the backward pass: a fraction of the memory",
    )
    train.add_argument(
        "--sync-bn",
        action="store_true",
        help="under torchrun on GPUs: batch-norm statistics over the global batch (SyncBatchNorm)",
    )
    train.add_argument("--seed", type=int, default=0, metavar="S", help="init, data order, split (0)")
    train.add_argument(
        "--split-seed",
        type=int,
        metavar="S",
        help="the train/validation split's own seed (default: --seed), to vary the rest on one split",
    )
    train.add_argument(
        "--no-decay-bn-bias",
        dest="decay_bn_bias",
        action="store_false",
        help="no weight decay on batch-norm and bias parameters (the paper decays them)",
    )
    evaluate = commands.add_parser(
        "eval",
        help="measure trained weights: loss, accuracy, confusion counts",
        description="Load WEIGHTS (a run folder: its best.safetensors, else last; or a .safetensors "
        "file) into SPEC and measure them on the validation split of DATA.",
    )
    _add_spec_arguments(evaluate)
    evaluate.add_argument("--weights", required=True, metavar="DIR|FILE", help="a run folder or weights")
    _add_data_arguments(evaluate, batch=256)
    evaluate.add_argument(
        "--seed", type=int, default=None, metavar="S", help="the split's seed (default: the run's)"
    )


def _add_data_arguments(parser: argparse.ArgumentParser, batch: int) -> None:
    parser.add_argument(
        "--data",
        default="digits",
        metavar="DATA",
        help="digits (default), synthetic, cifar10:DIR, cifar100:DIR or folder:DIR",
    )
    parser.add_argument(
        "--batch-size", type=int, default=batch, metavar="B", help=f"global batch size (default {batch})"
    )
    parser.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: cuda if available"
    )
    parser.add_argument("--amp", choices=["bf16", "fp16"], help="mixed precision")
    parser.add_argument("--channels-last", action="store_true", help="channels-last memory layout")
    parser.add_argument("--workers", type=int, default=0, metavar="N", help="data loader processes (0)")


def _train(args: argparse.Namespace) -> None:
    # torch, the data and the loop are imported here: `aggspec check` should not pay for them.
    from aggspec.train.loop import train

    train(
        _load(args),
        data=args.data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        schedule=args.schedule,
        out=args.out,
        resume=args.resume,
        device=args.device,
        amp=args.amp,
        channels_last=args.channels_last,
        compile=args.compile,
        sync_bn=args.sync_bn,
        memory_efficient=args.memory_efficient,
        workers=args.workers,
        seed=args.seed,
        split_seed=args.split_seed,
        decay_bn_bias=args.decay_bn_bias,
    )


def _eval(args: argparse.Namespace) -> None:
    from aggspec.train.evaluate import evaluate, format_confusion

    result = evaluate(
        _load(args),
        weights=args.weights,
        data=args.data,
        batch_size=args.batch_size,
        device=args.device,
        amp=args.amp,
        channels_last=args.channels_last,
        workers=args.workers,
        seed=args.seed,
    )
    print(f"{args.weights} on {args.data}: {result}")
    print(format_confusion(result.confusion))


def _load(args: argparse.Namespace) -> Spec:
    limits = _limits(args)
    overrides = _overrides(args.defines)
    return _read(args.spec, overrides, limits)


def _read(path: str, overrides: Sequence[Override], limits: Limits) -> Spec:
    return build_spec(read_source(path, limits.max_source_bytes), source_name(path), overrides, limits)


def _overrides(defines: Sequence[str], swept: str | None = None) -> list[Override]:
    """The ``-D`` overrides; a param given twice (or also swept) is refused, not silently resolved."""
    overrides = [parse_define(text) for text in defines]
    seen: dict[str, str] = {}
    for override in overrides:
        if override.name in seen:
            raise AggSpecError(
                f"-D gives '{override.name}' twice ({seen[override.name]}, then {override.origin}); "
                "give each param once",
                filename="<command line>",
            )
        if override.name == swept:
            raise AggSpecError(
                f"-D {override.origin} sets the param that --sweep varies", filename="<command line>"
            )
        seen[override.name] = override.origin
    return overrides


def _compile(args: argparse.Namespace) -> None:
    # torch is imported here, not at the top: `aggspec check` should not pay for it.
    from aggspec.pytorch.source import class_name, emit_source

    if args.check and args.output is None:
        raise AggSpecError("--check needs -o FILE", filename="<command line>")
    if args.batch < 1:
        raise AggSpecError(f"--batch must be at least 1, got {args.batch}", filename="<command line>")
    if args.output is not None:
        check_output(args.output, "-o")
    spec = _load(args)
    text = emit_source(spec, memory_efficient=args.memory_efficient)
    if args.output is None:
        sys.stdout.write(text)
    else:
        with writing(args.output), open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
        layers = spec.graph.number_of_nodes() - 1
        print(f"wrote {args.output}: class {class_name(spec.name)}, {layers:,} layers")
    if args.check:
        from aggspec.pytorch.smoke import smoke_test

        _check_fits(spec, args.batch)
        print(smoke_test(args.output, batch=args.batch))


def _check_fits(spec: Spec, batch: int) -> None:
    """Refuse a ``--check`` whose forward and backward pass could not fit in this machine's memory."""
    from aggspec.analysis.training import training_memory

    need = training_memory(spec.graph, batch).peak
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not every system says
        return
    if need > have // 2:
        raise AggSpecError(
            f"--check at batch {batch:,} needs about {need / 2**30:,.1f} GiB for a training step "
            f"(aggspec analyze --training), more than half of this machine's {have / 2**30:,.1f} GiB; "
            "lower --batch or leave out --check",
            filename="<command line>",
        )


def _sweep(
    path: str, values: Sequence[Override], overrides: Sequence[Override], limits: Limits
) -> list[tuple[Any, Report]]:
    """Analyze the spec at ``path`` once per value of the swept param (reading the file once)."""
    from aggspec.analysis.report import analyze

    text = read_source(path, limits.max_source_bytes)
    name = source_name(path)
    return [(value.value, analyze(build_spec(text, name, [*overrides, value], limits))) for value in values]


def _analyze(args: argparse.Namespace) -> None:
    # scipy (hops) is imported here, not at the top: `aggspec check` should not pay for it.
    from aggspec.analysis.report import analyze, sweep_table
    from aggspec.analysis.training import training_memory
    from aggspec.cli.report_text import format_report, format_sweep, format_training, to_json

    if args.plot and not args.sweep:
        raise AggSpecError("--plot needs --sweep", filename="<command line>")
    if args.plot:
        from aggspec.cli.plot import FORMATS

        check_output(args.plot, "--plot", FORMATS)
    if not args.sweep:
        if len(args.specs) > 1:
            raise AggSpecError("several specs can be compared only with --sweep", filename="<command line>")
        args.spec = args.specs[0]
        spec = _load(args)
        report = analyze(spec)
        data: dict[str, Any] = report.to_dict()
        text = format_report(report, full=args.full)
        for flag, given in (
            ("--batch", args.batch is not None),
            ("--memory-efficient", args.memory_efficient),
        ):
            if given and not args.training:
                raise AggSpecError(f"{flag} needs --training", filename="<command line>")
        if args.training:
            batch = 64 if args.batch is None else args.batch
            if batch < 1:
                raise AggSpecError(f"--batch must be at least 1, got {batch}", filename="<command line>")
            memory = training_memory(spec.graph, batch, memory_efficient=args.memory_efficient)
            data["training"] = memory.to_dict()
            text += "\n\n" + format_training(memory)
        print(to_json(data) if args.json else text)
        return
    limits = _limits(args)
    name, values = parse_sweep(args.sweep)
    overrides = _overrides(args.defines, swept=name)
    tables = {path: sweep_table(name, _sweep(path, values, overrides, limits)) for path in args.specs}
    if args.json:
        print(to_json([{"spec": path, **record} for path, records in tables.items() for record in records]))
    else:
        print("\n\n".join(f"{path}\n{format_sweep(name, records)}" for path, records in tables.items()))
    if args.plot:
        from aggspec.cli.plot import plot_sweep

        with writing(args.plot):
            plot_sweep(name, tables, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)  # stdout may be JSON


def _viz(args: argparse.Namespace) -> int:
    from aggspec.viz.graphviz import FORMATS as DIAGRAM_FORMATS
    from aggspec.viz.graphviz import DotMissing, draw, render
    from aggspec.viz.matrix import FORMATS as MATRIX_FORMATS
    from aggspec.viz.matrix import matrix_figure

    if args.compare and not args.matrix:
        raise AggSpecError("--compare needs --matrix", filename="<command line>")
    check_output(args.output, "-o", MATRIX_FORMATS if args.matrix else DIAGRAM_FORMATS)
    spec = _load(args)
    if args.matrix:
        specs = [spec]
        if args.compare:
            limits = _limits(args)
            specs.append(_read(args.compare, [], limits))
        with writing(args.output):
            width, height = matrix_figure(specs, args.output)
        print(f"wrote {args.output}: {width}x{height}")
        return 0
    dot = draw(spec, args.level, rankdir=args.rankdir, full=args.full)
    try:
        with writing(args.output):
            render(dot, args.output)
    except DotMissing as missing:
        print(
            f"aggspec: graphviz's 'dot' program is not installed (apt-get install graphviz, "
            f"brew install graphviz or conda install graphviz); wrote the DOT source to {missing}",
            file=sys.stderr,
        )
        return 1
    print(f"wrote {args.output}")
    return 0


def _plot(args: argparse.Namespace) -> None:
    # matplotlib is imported when drawing, not here: `aggspec check` should not pay for it.
    from aggspec.cli.curves import FORMATS, plot_curves, read_runs

    check_output(args.output, "-o", FORMATS)
    runs = read_runs(args.runs, args.labels)
    with writing(args.output):
        plot_curves(runs, args.output)
    print(f"wrote {args.output}: {len(runs)} run{'' if len(runs) == 1 else 's'}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; 0 on success, 2 for the user's mistakes, 1 for aggspec's own bugs."""
    args = _build_parser().parse_args(argv)
    if sys.stdout is None:  # started with standard output closed (`aggspec check x.agg >&-`)
        print("aggspec: error: standard output is closed", file=sys.stderr)
        return 2
    real = sys.stdout
    sys.stdout = _CheckedOutput(real)
    try:
        code = _run(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # `aggspec analyze ... | head`: the reader left, which is fine
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, real.fileno())
        return 1
    except _OutputFailed as failed:
        print(f"aggspec: error: cannot write to standard output: {failed.reason}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aggspec: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # not the user's mistake: a bug, reported as one
        if args.debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"aggspec: internal error: {type(exc).__name__}{': ' + message if message else ''}\n"
            "This is a bug in aggspec, not a mistake in your spec: please report it with the spec "
            "and the command line (rerun with --debug to see the traceback).",
            file=sys.stderr,
        )
        return 1
    finally:
        sys.stdout = real


class _OutputFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _CheckedOutput:
    """Standard output whose write errors (a full disk, a closed stream) end the command cleanly."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self.stream.write(text))
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:  # ValueError: I/O on a closed file
            raise _OutputFailed(getattr(exc, "strerror", None) or str(exc)) from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:
            raise _OutputFailed(getattr(exc, "strerror", None) or str(exc)) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _run(args: argparse.Namespace) -> int:
    try:
        if args.command == "check":
            print(summarize(_load(args)))
        elif args.command == "compile":
            _compile(args)
        elif args.command == "analyze":
            _analyze(args)
        elif args.command == "viz":
            return _viz(args)
        elif args.command == "train":
            _train(args)
        elif args.command == "eval":
            _eval(args)
        elif args.command == "plot":
            _plot(args)
    except AggSpecError as error:
        print(error.render(), file=sys.stderr)
        return 2
    return 0
