from desktop.main_window import MainWindow


def test_main_window_opens(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.windowTitle() == "Jarvis Desktop"


def test_desktop_start_up_path_imports_no_heavy_library():
    import subprocess
    import sys

    code = ("import sys, desktop.app, desktop.main_window, main; "
            "print(sorted(m for m in ('torch', 'transformers', 'diffusers', 'llama_cpp') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
