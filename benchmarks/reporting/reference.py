"""Paper reference numbers in ``benchmarks/reporting/reference/`` (format in its README.md).

Two kinds of file:

- ``paper/*.csv``: the paper's tables as transcribed (one row per printed number, columns
  ``source,table,dataset,task,model,attack,defense,setting,metric,value,note``; the provenance
  columns are kept as they are). The loader maps each row onto the suite's names
  (``CSV_TASKS``, ``CSV_DATASETS``, ``CSV_DEFENSES``, ``CSV_METRICS``): ``no_defense`` rows become
  the ``before`` stage (any defense), the others ``after`` for that defense, ``runtime_s`` the
  defense's wall time; "Avg. Drop" rows get the stage ``avg_drop``. A row with a ``setting`` (a
  poison rate, a validation size, an ablation's parameter) only matches a cell run with that
  same setting, so ablation rows never stand beside a default cell.
- ``*.yaml``: a table's metadata, ``defaults`` shared by its entries, and ``entries``; each entry
  names the cell it belongs to (``task``, ``dataset``, ``model``, ``attack``, ``defense``; a
  missing or null key matches any value), the ``stage`` (``before`` = no defense, ``after``, or
  ``timings_s``), the ``metric`` and the ``value``. Unknown keys are errors.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from core.config import ConfigError, from_dict

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
MATCH_KEYS = ("task", "dataset", "model", "attack", "defense")
STAGES = ("before", "after", "timings_s", "avg_drop")
PAPER = "Karim et al., Augmented Neural Fine-Tuning for Efficient Backdoor Purification, ECCV 2024"
CSV_COLUMNS = ("source", "table", "dataset", "task", "model", "attack", "defense", "setting",
               "metric", "value", "note")
#: the transcription's names -> the suite's (names missing here are the same in both)
CSV_TASKS = {"image_classification": "image", "multilabel_object_detection": "detection",
             "action_recognition": "video", "point_cloud_classification": "pointcloud",
             "machine_translation": "text", "dialogue_generation": "text"}
CSV_DATASETS = {"mscoco": "coco", "wmt2014_en_de": "wmt14", "opensubtitles2012": "opensubtitles"}
CSV_DEFENSES = {"vanilla_ft": "ft"}
#: the paper's NLG "AT" is the success of the attack on triggered inputs: our text task's asr;
#: "CT" is the clean BLEU
CSV_METRICS = {"at": "asr", "bleu_clean": "clean_bleu", "map": "map", "asr_drop": "asr",
               "clean_acc_drop": "clean_acc", "runtime_s": "defense"}
#: tables whose ``setting`` only describes the table's own (default) set-up, so their rows stand
#: beside default cells: main 1-5 and 8, supp. 3-6; the other tables are ablations
DEFAULT_SETTING_TABLES = {("main", t) for t in ("1", "2", "3", "4", "5", "8")} | {
    ("supp", t) for t in ("3", "4", "5", "6")}
#: a paper dataset also stands beside these datasets of ours (the paper's "ModelNet" is not
#: said to be 10 or 40)
DATASET_ALIASES = {"modelnet": ("modelnet10", "modelnet40"), "coco": ("coco2017",),
                   "voc07": ("voc2007",), "voc12": ("voc2012",)}


@dataclass(frozen=True)
class ReferenceEntry:
    stage: str
    metric: str
    value: float
    task: str | None = None
    dataset: str | None = None
    model: str | None = None
    attack: str | None = None
    defense: str | None = None
    unit: str = "%"
    note: str = ""
    setting: str = ""     # a table's row/column qualifier (poison rate, …); "" = the default cell

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ConfigError(f"reference entry stage must be one of {', '.join(STAGES)}, "
                              f"got {self.stage!r}")


@dataclass(frozen=True)
class ReferenceTable:
    table: str
    caption: str
    paper: str
    source: str
    checked_against_paper: bool
    entries: list = field(default_factory=list)
    hardware: str = ""
    defaults: dict = field(default_factory=dict)
    notes: str = ""
    file: str = ""


def norm(name: Any) -> str:
    """Names compare without case and punctuation: ``I-BAU`` = ``i_bau`` = ``ibau``."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def load_table(path: Path) -> ReferenceTable:
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path} must hold a mapping")
    data = {**data, "file": Path(path).name}
    table = from_dict(ReferenceTable, data)
    entries = [from_dict(ReferenceEntry, {**table.defaults, **entry}) for entry in table.entries]
    return ReferenceTable(**{**table.__dict__, "entries": entries})


def csv_entry(row: Mapping[str, str]) -> ReferenceEntry:
    """One transcribed row as a reference entry in the suite's names."""
    defense = CSV_DEFENSES.get(row["defense"], row["defense"])
    metric = row["metric"]
    if metric in ("asr_drop", "clean_acc_drop"):
        stage = "avg_drop"
    elif metric == "runtime_s":
        stage = "timings_s"
    else:
        stage = "before" if defense == "no_defense" else "after"
    attack = row["attack"]
    default = (row["source"], row["table"]) in DEFAULT_SETTING_TABLES
    # the paper's architecture names (pointnet++, resnet50_cnn+lstm, …) are not the suite's
    # model names: the entry stands beside any model, the paper's is kept in the note
    extra = [f"paper model: {row['model']}"] if row["model"] else []
    if default and row["setting"]:
        extra.append(f"setting: {row['setting']}")
    return ReferenceEntry(
        stage=stage, metric=CSV_METRICS.get(metric, metric), value=float(row["value"]),
        task=CSV_TASKS.get(row["task"], row["task"]),
        dataset=CSV_DATASETS.get(row["dataset"], row["dataset"]),
        model=None,
        attack=None if attack in ("unspecified", "avg_drop") else attack,
        defense=None if defense == "no_defense" else defense,
        unit="s" if metric == "runtime_s" else ("BLEU" if "bleu" in metric else "%"),
        note="; ".join(extra + [row["note"]] if row["note"] else extra),
        setting="" if default else row["setting"])


def load_csv_table(path: Path) -> ReferenceTable:
    """A transcribed table (``paper/*.csv``): its rows as entries, its provenance kept."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
            raise ConfigError(f"{path}: expected the columns {','.join(CSV_COLUMNS)}, got "
                              f"{','.join(reader.fieldnames or ())}")
        rows = list(reader)
    if not rows:
        raise ConfigError(f"{path} holds no rows")
    first = rows[0]
    where = "main paper" if first["source"] == "main" else "supplementary"
    return ReferenceTable(
        table=f"{'' if first['source'] == 'main' else 'supp. '}{first['table']}",
        caption=f"{where} Table {first['table']} ({Path(path).stem})", paper=PAPER,
        source=f"transcribed from the {where} (shared/paper; uncertainties in each row's note)",
        checked_against_paper=True, entries=[csv_entry(r) for r in rows],
        hardware="NVIDIA RTX 3090 (supplementary: all experiments)",
        file=f"paper/{Path(path).name}")


def load_references(directory: Path = REFERENCE_DIR) -> list[ReferenceTable]:
    """The CSV transcriptions (main paper before supplementary, by file name) and the YAML
    files; where two tables give the same cell, the first loaded wins in the tables."""
    directory = Path(directory)
    csvs = [load_csv_table(p) for p in sorted(directory.glob("paper/*.csv"))]
    return csvs + [load_table(p) for p in sorted(directory.glob("*.yaml"))]


def matches(entry: ReferenceEntry, key: Mapping[str, Any], exact_attack: bool = False) -> bool:
    """Whether ``entry`` applies to the cell ``key`` (a dict of MATCH_KEYS)."""
    if entry.stage == "avg_drop" or entry.setting != (key.get("setting") or ""):
        return False
    for name in MATCH_KEYS:
        want = getattr(entry, name)
        if want is None:
            if name == "attack" and exact_attack:
                return False
            continue
        names = {norm(want), *(norm(a) for a in DATASET_ALIASES.get(want, ()))} \
            if name == "dataset" else {norm(want)}
        if norm(key.get(name)) not in names:
            return False
    return True
