r"""Purify an image classifier you hold: ``nft-suite purify`` (or ``python -m benchmarks.practitioner``).

    nft-suite purify --arch torchvision:resnet18 --weights model.safetensors --num-classes 10 \
        --normalize cifar10 --clean-dir clean_images --out purified.safetensors \
        [--trigger-dir triggered --target 0] [--test-dir test_images] \
        [--defense nft | --compare nft,ft,ftsam,ibau] [--set defense.epochs=20]

``--arch``: ``torchvision:NAME``, ``timm:NAME``, a suite zoo name (``preact_resnet18``, …) or
``module:function`` / ``file.py:function`` (your own builder, with ``--arch-kwargs`` YAML).
``--weights``: ``.safetensors``, a weights-only ``torch.save`` state_dict (``.pt``/``.pth``;
anything that needs code to unpickle is refused) or a ``torch.export`` program (``.pt2``, with
the ``--arch`` it was exported from). ``--torchscript`` still reads TorchScript archives, but
``torch.jit`` is deprecated in torch 2.11: prefer ``.pt2``.

``--clean-dir`` holds one folder per class (``0/``, ``1/``, … or names: class index = the
folder's number when every name is an integer, else its position in sorted order). Clean
accuracy is measured on ``--test-dir`` (same layout) or, without it, on a class-balanced
``--holdout`` share of the clean images kept aside; the defenses run on the rest.
``--trigger-dir`` (images directly inside, or in class folders named as in ``--clean-dir``)
measures the attack success rate: the share predicted as ``--target`` (the target's own
folder is not counted). Images are read as [0, 1] pixels; ``--normalize`` is the model's own
input normalisation (``cifar10``, ``imagenet``, ``half``, ``MEAN,STD`` or C means then C stds).

``--compare A,B,C`` runs several defenses on the same split and writes one model each
(``OUT`` with ``.A`` before its suffix). The output has the input's format by its suffix
(``.safetensors``, ``.pt``, ``.pt2``), keys, dtypes and expected input. A report
(``OUT``'s name + ``.report.json`` / ``.report.md``) holds the command, input checksums,
metrics before/after, each defense's config, versions and wall times.

Exit codes: 0 done; 1 a compared defense failed or could not serve the model (the others are
written); 2 bad input (nothing written).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from benchmarks.practitioner.models import PractitionerInputError
from benchmarks.practitioner.output import OUTPUT_SUFFIXES
from core.checkpoint import UnsafeCheckpointError
from core.config import ConfigError

PurifyInputError = PractitionerInputError     # the name this module used before


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nft-suite purify", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", help="torchvision:NAME, timm:NAME, a zoo name or module:function")
    parser.add_argument("--arch-kwargs", help="YAML mapping of builder arguments, or a .yaml file")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", type=Path, help=".safetensors, weights-only .pt/.pth, .pt2")
    source.add_argument("--torchscript", type=Path, help="TorchScript archive (deprecated)")
    parser.add_argument("--num-classes", type=int, required=True)
    parser.add_argument("--normalize", help="cifar10, imagenet, half, MEAN,STD or C means + C stds"
                        " (default: the model takes [0, 1] images)")
    parser.add_argument("--image-size", type=int, help="resize every image to this square size")
    parser.add_argument("--resize", default="square", choices=("square", "center_crop"),
                        help="square: stretch; center_crop: shorter side, then the centre")
    parser.add_argument("--clean-dir", type=Path, required=True, help="clean images, <class>/*")
    parser.add_argument("--test-dir", type=Path, help="clean test images, <class>/* (ACC)")
    parser.add_argument("--trigger-dir", type=Path, help="triggered images (ASR)")
    parser.add_argument("--target", type=int, default=0, help="the attacker's target class")
    parser.add_argument("--out", type=Path, required=True,
                        help="purified model: .safetensors, .pt/.pth or .pt2")
    parser.add_argument("--holdout", type=float, default=None,
                        help="share of each class kept aside for ACC (default 0.2; 0 with "
                             "--test-dir)")
    defense = parser.add_mutually_exclusive_group()
    defense.add_argument("--defense", default="nft", help="nft (default), ft, ftsam, ibau, anp, "
                         "awm, rnp, fp, nad, mcr")
    defense.add_argument("--compare", help="comma-separated defenses run on the same split")
    parser.add_argument("--set", action="append", default=[], metavar="defense.KEY=VALUE",
                        help="defense option (defense.KEY: every defense run that has KEY; "
                             "NAME.KEY: that one), e.g. defense.epochs=20, nft.augmentation=cutmix")
    parser.add_argument("--no-flip", action="store_true", help="no horizontal flips")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def defense_options(items: list[str], names: list[str]) -> dict[str, dict]:
    """``--set`` items -> {defense: {key: value}}; values are YAML scalars/lists."""
    import yaml

    options: dict[str, dict] = {name: {} for name in names}
    for item in items:
        key, sep, raw = item.partition("=")
        scope, dot, option = key.partition(".")
        if not sep or not dot or not option:
            raise PractitionerInputError(f"--set expects defense.KEY=VALUE (or NAME.KEY=VALUE, "
                                         f"e.g. nft.KEY=VALUE), got {item!r}")
        if scope != "defense" and scope not in names:
            raise PractitionerInputError(f"--set {item!r}: {scope!r} is not a defense of this "
                                         f"run ({', '.join(names)}); use defense.{option}")
        value = yaml.safe_load(raw)
        targets = [scope]
        if scope == "defense":   # every defense that has the option; none: let them all refuse
            targets = [n for n in names if option in _config_fields(n)] or names
        for name in targets:
            options[name][option] = value
    return options


def _config_fields(name: str) -> set[str]:
    import dataclasses
    import importlib

    importlib.import_module("core.defenses")
    from core.registry import DEFENSES

    return {f.name for f in dataclasses.fields(DEFENSES.get(name).Config)}


def _outputs(out: Path, names: list[str], compared: bool) -> dict[str, Path]:
    if not compared:
        return {names[0]: out}
    return {name: out.with_name(f"{out.stem}.{name}{out.suffix}") for name in names}


def _markdown(report: dict) -> str:
    before = report["before"]
    lines = ["# Purification report", "", f"Command: `{report['command']}`", "",
             f"Model: `{report['arch']}`, {report['num_classes']} classes, input "
             f"{'×'.join(map(str, report['image_shape']))}, normalize mean "
             f"{report['normalize']['mean']} std {report['normalize']['std']}", "",
             f"Data: {report['data']['clean_images']} clean images for the defenses; ACC on "
             f"{report['data']['eval_split']}; ASR on {report['data']['trigger_images']} "
             f"triggered images (target {report['data']['target']})", "",
             "| defense | status | ACC % | ASR % | defense wall s | output |",
             "|---|---|---|---|---|---|",
             f"| (input) | | {before.get('clean_acc', '–')} | {before.get('asr', '–')} | | |"]
    for r in report["results"]:
        after = r.get("after", {})
        out = report["outputs"].get(r["defense"], {}).get("path", "")
        lines.append(f"| {r['defense']} | {r['status']} | {after.get('clean_acc', '–')} | "
                     f"{after.get('asr', '–')} | {r.get('wall_time_s', '–')} | {out} |")
    for r in report["results"]:
        if r.get("reason"):
            lines.append(f"\n{r['defense']}: {r['reason']}")
    lines += ["", "Inputs: " + "; ".join(f"{k} {v}" for k, v in report["inputs"].items()),
              "", "Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()),
              "", f"Device {report['device']}, total wall time {report['wall_time_s']} s; "
              f"each defense's config is in the JSON report."]
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def run(args: argparse.Namespace, command: str) -> tuple[int, dict]:
    from benchmarks.practitioner import data, models
    from benchmarks.practitioner.output import write_model
    from benchmarks.practitioner import compare

    start = time.perf_counter()
    names = [n.strip() for n in (args.compare or args.defense).split(",") if n.strip()]
    if len(set(names)) != len(names):
        raise PractitionerInputError(f"--compare names a defense twice: {names}")
    if args.num_classes < 2:
        raise PractitionerInputError("--num-classes must be at least 2")
    if args.out.suffix not in OUTPUT_SUFFIXES:
        raise PractitionerInputError(f"--out must end in one of {', '.join(OUTPUT_SUFFIXES)}, "
                                     f"got {args.out}")
    holdout = args.holdout if args.holdout is not None else (0.0 if args.test_dir else 0.2)
    if not 0.0 <= holdout < 1.0:
        raise PractitionerInputError(f"--holdout must lie in [0, 1), got {holdout}")
    if args.image_size is not None and args.image_size < 8:
        raise PractitionerInputError("--image-size must be at least 8")
    if not 0 <= args.target < args.num_classes:
        raise PractitionerInputError(f"--target {args.target} is not a class of "
                                     f"{args.num_classes}")
    options = defense_options(args.set, names)
    mean_std = data.parse_normalize(args.normalize)
    weights_path = args.weights or args.torchscript
    if args.arch is None:
        if weights_path.suffix == ".pt2":
            raise PractitionerInputError(models.EXPORT_WITHOUT_ARCH)
        raise PractitionerInputError("--arch is required (torchvision:NAME, timm:NAME, a zoo "
                                     "name or module:function)")

    classes = {name: label for label, name in data.class_folders(args.clean_dir,
                                                                 args.num_classes)}
    paths, labels = data.image_paths(args.clean_dir, args.num_classes, classes)
    if len(paths) < 2 * args.num_classes:
        raise PractitionerInputError(
            f"--clean-dir has {len(paths)} images; at least 2 per class are needed "
            f"(2 × {args.num_classes} classes = {2 * args.num_classes})")
    weights = models.read_weights(weights_path, torchscript=args.torchscript is not None)
    size = args.image_size
    if size is None and weights.example_inputs:
        size = int(weights.example_inputs[0].shape[-1])
    if size is None:
        width, height = data.first_image_size(paths[0])
        size = width if width == height else None
    model = models.build_model(args.arch, args.num_classes, size or 224,
                               models.parse_arch_kwargs(args.arch_kwargs))
    models.fit_weights(model, weights, args.arch, args.num_classes, size or 224, weights_path)

    clean = data.read_images(paths, labels, args.image_size, args.resize, "clean images")
    test = trigger = None
    inputs = {"weights": f"{weights_path} {data.file_sha256(weights_path)}",
              "clean_dir": f"{args.clean_dir} ({len(paths)} images) "
                           f"{data.folder_sha256(args.clean_dir, paths)}"}
    image_size = int(clean.inputs.shape[-1])
    if args.test_dir is not None:
        t_paths, t_labels = data.image_paths(args.test_dir, args.num_classes, classes)
        test = data.read_images(t_paths, t_labels, image_size, args.resize, "test images")
        inputs["test_dir"] = (f"{args.test_dir} ({len(t_paths)} images) "
                              f"{data.folder_sha256(args.test_dir, t_paths)}")
    if args.trigger_dir is not None:
        g_paths, g_labels = data.image_paths(args.trigger_dir, args.num_classes, classes,
                                             labelled=False)
        trig = data.read_images(g_paths, g_labels, image_size, args.resize, "triggered images")
        keep = torch.nonzero(trig.targets != args.target).flatten()
        trigger = trig.inputs[keep]
        inputs["trigger_dir"] = (f"{args.trigger_dir} ({len(g_paths)} images) "
                                 f"{data.folder_sha256(args.trigger_dir, g_paths)}")

    purified, report = compare(
        model, clean.inputs, clean.targets, names, mean_std, options=options,
        num_classes=args.num_classes, trigger_images=trigger, target=args.target,
        test_images=None if test is None else test.inputs,
        test_labels=None if test is None else test.targets, holdout=holdout,
        flip=not args.no_flip, seed=args.seed, device=args.device,
        progress=not args.no_progress)
    outputs = _outputs(args.out, names, args.compare is not None)
    mean, std = (t.view(1, -1, 1, 1) for t in mean_std)
    example = (clean.inputs[:2] - mean) / std
    report = {"command": command, "arch": args.arch,
              "arch_kwargs": models.parse_arch_kwargs(args.arch_kwargs),
              "weights_format": weights.format, "inputs": inputs, **report, "outputs": {}}
    for entry in report["results"]:
        name = entry["defense"]
        if name not in purified:
            continue
        path = write_model(purified[name], weights, outputs[name], example, {
            "arch": args.arch, "num_classes": args.num_classes, "defense": name,
            "source": str(weights_path), "before": report["before"], "after": entry["after"]})
        report["outputs"][name] = {"path": str(path), "sha256": data.file_sha256(path)}
    report["wall_time_s"] = round(time.perf_counter() - start, 3)
    stem = args.out.with_suffix("")
    json_path, md_path = Path(f"{stem}.report.json"), Path(f"{stem}.report.md")
    _write_text(json_path, json.dumps(report, indent=2, default=str) + "\n")
    _write_text(md_path, _markdown(report))
    report["report"] = {"json": str(json_path), "markdown": str(md_path)}
    failed = any(r["status"] != "done" for r in report["results"])
    return (1 if failed else 0), report


def _print_table(report: dict) -> None:
    before = report["before"]
    fmt = lambda m, k: f"{m[k]:7.2f}" if k in m else "      –"   # noqa: E731
    data = report["data"]
    print(f"{data['clean_images']} clean images for the defenses; ACC on {data['eval_split']}; "
          f"ASR on {data['trigger_images']} triggered images (target {data['target']})")
    print(f"{'defense':>10} {'ACC %':>7} {'ASR %':>7} {'wall s':>8}  status / output")
    print(f"{'(input)':>10} {fmt(before, 'clean_acc')} {fmt(before, 'asr')} {'':>8}")
    for r in report["results"]:
        after = r.get("after", {})
        wall = f"{r['wall_time_s']:8.1f}" if "wall_time_s" in r else f"{'–':>8}"
        where = report["outputs"].get(r["defense"], {}).get("path") or \
            f"{r['status']}: {r.get('reason', '')}"
        print(f"{r['defense']:>10} {fmt(after, 'clean_acc')} {fmt(after, 'asr')} {wall}  {where}")
    print(f"report: {report['report']['json']}, {report['report']['markdown']}")


def main(argv: list[str] | None = None, prog: str = "nft-suite purify") -> int:
    args = parse_args(argv)
    command = " ".join([prog, *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    from core.registry import UnknownNameError

    try:
        code, report = run(args, command)
    except (PractitionerInputError, UnsafeCheckpointError, ConfigError, UnknownNameError,
            FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print_table(report)
    print(json.dumps(report, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main())
