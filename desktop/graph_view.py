"""The plan as a live graph: one node per task, arranged in columns by dependency depth.

Each node shows the task type, the chosen model, its status and time; clicking a node emits
`task_clicked(task_id)`.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QGraphicsScene, QGraphicsView

from core.events import Event, ModelChosen, PlanDrafted, PlanReady, TaskDone, TaskFailed, TaskProgress, TaskStarted
from core.planning.draft import preview
from core.turn import Turn

NODE_W, NODE_H, GAP_X, GAP_Y = 190, 74, 60, 24

STATUS_COLOURS = {
    "planned": "#f3e5f5",  # drafted while the controller still writes the plan
    "waiting": "#eceff1",
    "running": "#fff3c4",
    "done": "#d7f5dd",
    "failed": "#ffd6d6",
    "skipped": "#e0e0e0",
    "cancelled": "#e0e0e0",
}


def layers(plan: list[dict]) -> dict[int, int]:
    """Column of each task: 0 for tasks with no dependency, else one more than its deepest parent."""
    depth: dict[int, int] = {}
    for task in plan:  # plans are validated: parents always come first
        depth[task["id"]] = 1 + max((depth.get(d, 0) for d in task["dep"]), default=-1)
    return depth


class TaskNode(QGraphicsObject):
    def __init__(self, task: dict, on_click) -> None:
        super().__init__()
        self.task = task
        self.model = ""
        self.status = "waiting"
        self.detail = ""
        self.progress: float | None = None
        self._on_click = on_click
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        step = f"\n{task['step']}" if task.get("step") else ""  # the request's words this task serves
        self.setToolTip(f"task {task['id']}: {task['task']}{step}")

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, NODE_W, NODE_H)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        border = QColor("#1e88e5") if self.isSelected() else QColor("#90a4ae")
        painter.setPen(QPen(border, 2 if self.isSelected() else 1))
        painter.setBrush(QBrush(QColor(STATUS_COLOURS.get(self.status, "#ffffff"))))
        painter.drawRoundedRect(self.boundingRect().adjusted(1, 1, -1, -1), 8, 8)
        if self.progress is not None and self.status == "running":
            bar = QRectF(8, NODE_H - 9, (NODE_W - 16) * max(0.0, min(1.0, self.progress)), 4)
            painter.fillRect(bar, QColor("#fbc02d"))
        painter.setPen(QColor("#263238"))
        bold = QFont(painter.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.drawText(QRectF(10, 6, NODE_W - 20, 18), Qt.AlignmentFlag.AlignLeft,
                         f"{self.task['id']}  {self.task['task']}")
        painter.setFont(QFont(painter.font().family(), max(7, painter.font().pointSize() - 1)))
        metrics = painter.fontMetrics()
        placeholder = "being planned..." if self.status == "planned" else "choosing model..."
        model = metrics.elidedText(self.model or placeholder, Qt.TextElideMode.ElideMiddle, NODE_W - 20)
        painter.drawText(QRectF(10, 26, NODE_W - 20, 16), Qt.AlignmentFlag.AlignLeft, model)
        status = metrics.elidedText(f"{self.status} {self.detail}".strip(), Qt.TextElideMode.ElideRight, NODE_W - 20)
        painter.drawText(QRectF(10, 44, NODE_W - 20, 16), Qt.AlignmentFlag.AlignLeft, status)

    def mousePressEvent(self, event) -> None:
        super().mousePressEvent(event)
        self._on_click(self.task["id"])

    def set_state(self, status: str | None = None, detail: str | None = None, model: str | None = None,
                  progress: float | None = None) -> None:
        if status is not None:
            self.status = status
        if detail is not None:
            self.detail = detail
        if model is not None:
            self.model = model
        self.progress = progress
        self.update()


class TaskGraphView(QGraphicsView):
    task_clicked = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._scene = QGraphicsScene(self)  # held here: an unreferenced scene is collected, blanking the view
        self.setScene(self._scene)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumWidth(220)
        self.nodes: dict[int, TaskNode] = {}
        self._message = None
        self.show_message("The plan appears here while a request runs.")

    def show_message(self, text: str) -> None:
        self._scene.clear()
        self.nodes = {}
        self._message = self._scene.addText(text)
        self._message.setDefaultTextColor(QColor("#78909c"))
        self._wrap_message()

    def _wrap_message(self) -> None:
        """A message wraps to the pane: a scroll bar for one line of text looks broken."""
        if self._message is not None:
            self._message.setTextWidth(max(120, self.viewport().width() - 24))
            self._scene.setSceneRect(self._message.boundingRect())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._wrap_message()

    def show_plan(self, plan: list[dict]) -> None:
        self._scene.clear()
        self.nodes = {}
        self._message = None
        if not plan:
            self.show_message("No plan.")
            return
        depth = layers(plan)
        rows: dict[int, int] = {}
        for task in plan:
            column = depth[task["id"]]
            row = rows.get(column, 0)
            rows[column] = row + 1
            node = TaskNode(task, self.task_clicked.emit)
            node.setPos(column * (NODE_W + GAP_X), row * (NODE_H + GAP_Y))
            self._scene.addItem(node)
            self.nodes[task["id"]] = node
        for task in plan:
            for parent in task["dep"]:
                if parent in self.nodes:
                    self._add_edge(self.nodes[parent], self.nodes[task["id"]])
        self._scene.setSceneRect(self._scene.itemsBoundingRect().adjusted(-10, -10, 10, 10))

    def _add_edge(self, source: TaskNode, target: TaskNode) -> None:
        start = source.pos() + QPointF(NODE_W, NODE_H / 2)
        end = target.pos() + QPointF(0, NODE_H / 2)
        path = QPainterPath(start)
        middle = (start.x() + end.x()) / 2
        path.cubicTo(QPointF(middle, start.y()), QPointF(middle, end.y()), end)
        pen = QPen(QColor("#78909c"), 1.5)
        self._scene.addPath(path, pen).setZValue(-1)
        arrow = QPolygonF([end, end + QPointF(-9, -5), end + QPointF(-9, 5)])
        self._scene.addPolygon(arrow, pen, QBrush(QColor("#78909c"))).setZValue(-1)

    def apply(self, event: Event) -> None:
        """Update the graph from one engine event."""
        if isinstance(event, PlanReady):
            self.show_plan(event.plan)
            return
        if isinstance(event, PlanDrafted):
            self.show_plan(preview(event.tasks))
            for node in self.nodes.values():
                node.set_state("planned", node.task.get("step", "")[:60])
            return
        node = self.nodes.get(getattr(event, "task_id", -1))
        if node is None:
            return
        if isinstance(event, ModelChosen):
            node.set_state(model=event.model or "no model installed")
        elif isinstance(event, TaskStarted):
            node.set_state("running", "")
        elif isinstance(event, TaskProgress):
            if node.status == "running":  # never revives a task already settled (Stop)
                node.set_state("running", event.message, progress=event.fraction)
        elif isinstance(event, TaskDone):
            host = (event.result.get("outputs") or {}).get("host")  # a task run on a cluster says where
            node.set_state("done", f"{event.result['seconds']:.2f} s" + (f" on {host}" if host else ""))
        elif isinstance(event, TaskFailed):
            status = "skipped" if event.skipped else "cancelled" if event.error == "cancelled" else "failed"
            node.set_state(status, "")
            node.setToolTip(event.error)

    def show_record(self, turn: Turn) -> None:
        """Draw a finished (or loaded) turn."""
        self.show_plan(turn.plan)
        for selection in turn.selections:
            if selection.task_id in self.nodes:
                self.nodes[selection.task_id].set_state(model=selection.model or "no model installed")
        for result in turn.results:
            node = self.nodes.get(result.task_id)
            if node is not None:
                node.set_state(result.status, f"{result.seconds:.2f} s" if result.status == "done" else "")
                if result.error:
                    node.setToolTip(result.error)
