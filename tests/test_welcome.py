"""The first-run page: what this machine can run, a starter set that fits it, one button that
downloads the set from a hub (a local one on 127.0.0.1 here), and examples that work now."""

from PySide6.QtCore import Qt

from app import recommend as rec
from app.recommend import GB, Machine, recommend
from app.settings import Settings
from app.wiring import build_app
from desktop.main_window import MainWindow
from models.catalogue import load_catalogue
from tests.fakes import ScriptedController
from tests.hub_server import HubServer, tiny_bert_files

LAPTOP = Machine(ram_bytes=16 * GB, ram_free_bytes=10 * GB, disk_free_bytes=200 * GB, cores=4)
WORKSTATION = Machine(64 * GB, 60 * GB, 2000 * GB, (("RTX 4090", 24 * GB),), cores=16)


def test_a_cpu_machine_gets_a_small_controller_and_no_picture_generation():
    plan = recommend(load_catalogue(), LAPTOP, set(), {"sentence-similarity"})
    assert plan.controller is not None and plan.controller.memory_bytes <= rec.CPU_CONTROLLER_BYTES
    tasks = {e.task for e in plan.experts}
    assert set(rec.STARTER_TASKS) <= tasks and "text-to-image" not in tasks
    assert plan.download_bytes == plan.controller.size_bytes + sum(e.download_bytes for e in plan.experts)


def test_a_gpu_gets_a_bigger_controller_and_picture_generation():
    laptop = recommend(load_catalogue(), LAPTOP, set(), set())
    workstation = recommend(load_catalogue(), WORKSTATION, set(), set())
    assert workstation.controller.memory_bytes > laptop.controller.memory_bytes
    assert workstation.controller.memory_bytes <= 24 * GB * rec.GPU_CONTROLLER_SHARE
    assert "text-to-image" in {e.task for e in workstation.experts}


def test_what_is_installed_or_does_not_fit_is_not_recommended():
    covered = recommend(load_catalogue(), LAPTOP, set(), set(rec.STARTER_TASKS), has_better_controller=True)
    assert covered.ids == []
    full_disk = recommend(load_catalogue(), Machine(16 * GB, 10 * GB, 300_000_000, cores=4), set(), set())
    assert full_disk.download_bytes <= 300_000_000


def test_examples_follow_the_installed_tasks():
    assert rec.examples({"sentence-similarity"}) == [rec.EXAMPLES["sentence-similarity"]]
    assert rec.examples(set()) == []


def test_the_first_run_page_downloads_its_set_from_the_hub_and_then_offers_its_example(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(rec, "STARTER_TASKS", ("object-detection",))  # one small model, not seven
    monkeypatch.setattr(rec, "CPU_CONTROLLER_BYTES", 0)  # and no controller download
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    detector = sorted(load_catalogue().experts_for("object-detection"), key=lambda e: e.download_bytes)[0].id
    with HubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        hub.add_repo(detector, tiny_bert_files(), pipeline_tag="object-detection")
        settings = Settings(data_dir=str(tmp_path / "data"), allow_downloads=True)
        window = MainWindow(settings, app_factory=lambda s, **kw: build_app(s, controller=ScriptedController(), **kw))
        qtbot.addWidget(window)
        window.show()
        welcome = window.chat.welcome
        qtbot.waitUntil(lambda: welcome.facts is not None, timeout=30_000)
        assert welcome.isVisible() and not window.chat.chat.isVisible()
        assert "RAM" in welcome.machine.text() and "free disk" in welcome.machine.text()
        assert detector in welcome.recommended.text() and welcome.download_button.isEnabled()
        assert "How similar are" in " ".join(b.text() for b in welcome.findChildren(type(welcome.download_button)))

        window.download_recommended(welcome.facts.recommendation.ids, confirm=False)
        qtbot.waitUntil(lambda: welcome.facts is not None and detector in welcome.facts.experts, timeout=60_000)
        assert "Everything recommended" in welcome.recommended.text() and not welcome.download_button.isVisible()
        window.show_page("Chat")
        example = next(b for b in welcome.findChildren(type(welcome.download_button))
                       if b.text() == rec.EXAMPLES["object-detection"])
        qtbot.mouseClick(example, Qt.MouseButton.LeftButton)
        assert window.chat.composer.input.toPlainText() == rec.EXAMPLES["object-detection"]


def test_with_downloads_off_the_button_says_why(qtbot, tmp_path):
    settings = Settings(data_dir=str(tmp_path / "data"))
    window = MainWindow(settings, app_factory=lambda s, **kw: build_app(s, controller=ScriptedController(), **kw))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.chat.welcome.facts is not None, timeout=30_000)
    button = window.chat.welcome.download_button
    assert not button.isEnabled() and "Downloads are off" in button.toolTip()
