"""Conversation export to Markdown or HTML, with its images and audio copied beside the file.

Also renders one turn's details (plan, models with reasons, each task's inputs, outputs, device
and time) as HTML for the window's expandable turn view. The window owns this rendering; core only
keeps the record (`core.turn.Turn`).
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

from core.history.conversation import Conversation
from core.plan import modality_of_path
from core.turn import Turn


def _value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def details_html(turn: Turn) -> str:
    esc = html.escape
    selections = {s.task_id: s for s in turn.selections}
    results = {r.task_id: r for r in turn.results}
    rows = []
    for task in turn.plan:
        selection = selections.get(task["id"])
        result = results.get(task["id"])
        inputs = (result.inputs if result else {}) or task.get("args", {})
        all_outputs = result.outputs if result else {}
        outputs = {k: v for k, v in all_outputs.items() if k not in ("device", "dtype")}
        status = result.status if result else ""
        if result and result.error:
            status += f": {result.error}"
        rows.append(
            "<tr>"
            f"<td>{task['id']}</td><td><b>{esc(task['task'])}</b><br>after {esc(str(task['dep']) if task['dep'] else '-')}</td>"
            f"<td>{esc(selection.model if selection else '')}<br>"
            f"<i>{esc(selection.reason if selection else '')}</i></td>"
            f"<td>{'<br>'.join(f'{esc(k)}: {esc(_value(v))[:300]}' for k, v in inputs.items())}</td>"
            f"<td>{'<br>'.join(f'{esc(k)}: {esc(_value(v))[:300]}' for k, v in outputs.items())}</td>"
            f"<td>{esc(str(all_outputs.get('device', '')))} {esc(str(all_outputs.get('dtype', '')))}<br>"
            f"{result.seconds if result else 0:.2f} s</td>"
            f"<td>{esc(status)}</td></tr>")
    timings = ", ".join(f"{k} {v:.2f} s" for k, v in turn.timings.items())
    repairs = "".join(f"<li>{esc(r)}</li>" for r in turn.repairs)
    return (
        "<table border='1' cellspacing='0' cellpadding='4'>"
        "<tr><th>#</th><th>task</th><th>model and reason</th><th>inputs</th><th>outputs</th>"
        "<th>device, time</th><th>status</th></tr>" + "".join(rows) + "</table>"
        + (f"<p>Plan repairs:</p><ul>{repairs}</ul>" if repairs else "")
        + (f"<p>Stage times: {esc(timings)}</p>" if timings else ""))


def export_conversation(conversation: Conversation, target: Path) -> Path:
    """Write `target` (.md or .html) and copy the conversation's files into `<stem>_files/`."""
    target = Path(target)
    fmt = "html" if target.suffix.lower() in (".html", ".htm") else "md"
    files_dir = target.with_name(target.stem + "_files")
    copied: dict[str, str] = {}

    def link(path: str) -> str:
        if path not in copied:
            files_dir.mkdir(parents=True, exist_ok=True)
            name = f"{len(copied) + 1:03d}-{Path(path).name}"
            shutil.copyfile(path, files_dir / name)
            copied[path] = f"{files_dir.name}/{name}"
        return copied[path]

    turns = conversation.turns
    text = _html(conversation.title, turns, link) if fmt == "html" else _markdown(conversation.title, turns, link)
    target.write_text(text, encoding="utf-8")
    return target


def _attachments(turn: Turn) -> list[str]:
    return [p for p in turn.attachments if Path(p).is_file()]


def _markdown(title: str, turns: list[Turn], link) -> str:
    lines = [f"# {title}", ""]
    for turn in turns:
        lines += [f"**You:** {turn.request}", ""]
        for path in _attachments(turn):
            lines += [_md_media(path, link), ""]
        answer = turn.answer or f"_({turn.status}: {turn.error})_"
        lines += [f"**Assistant:** {answer}", ""]
        for kind, path in turn.media():
            lines += [_md_media(path, link), ""]
    return "\n".join(lines)


def _md_media(path: str, link) -> str:
    target = link(path)
    return f"![{Path(path).name}]({target})" if modality_of_path(path) == "image" else f"[{Path(path).name}]({target})"


def _html(title: str, turns: list[Turn], link) -> str:
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title></head><body>",
             f"<h1>{esc(title)}</h1>"]
    for turn in turns:
        parts.append(f"<p><b>You:</b> {esc(turn.request)}</p>")
        parts += [_html_media(path, link) for path in _attachments(turn)]
        answer = turn.answer or f"({turn.status}: {turn.error})"
        parts.append(f"<p><b>Assistant:</b> {esc(answer)}</p>")
        parts += [_html_media(path, link) for _, path in turn.media()]
        parts.append(f"<details><summary>Plan and models</summary>{details_html(turn)}</details><hr>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_media(path: str, link) -> str:
    target = html.escape(link(path))
    kind = modality_of_path(path)
    if kind == "image":
        return f"<p><img src='{target}' style='max-width:480px'></p>"
    if kind == "audio":
        return f"<p><audio controls src='{target}'></audio></p>"
    if kind == "video":
        return f"<p><video controls src='{target}' style='max-width:480px'></video></p>"
    return f"<p><a href='{target}'>{html.escape(Path(path).name)}</a></p>"
