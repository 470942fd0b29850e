"""Make the pictures of docs/pictures.md: ``python docs/make_pictures.py`` (needs matplotlib, selenium, chromium).

Writes into docs/images/: ``draw_222.png`` (``deltaprop draw`` of the widely used 2-2-2 example, units
coloured by delta), ``explore_222_backward.png`` (its explorer page stopped after BP1, before BP2) and
``explore_xor_training.png`` (the xor page after 1,000 SGD steps in the browser). Screenshots are
reduced to 128 colours so that each file stays well under 200 kB (the drawing is small as it is).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

IMAGES = Path(__file__).resolve().parent / "images"
EXAMPLE = {"cost": "quadratic", "layers": [
    {"activation": "sigmoid", "W": [[0.15, 0.20], [0.25, 0.30]], "b": 0.35},
    {"activation": "sigmoid", "W": [[0.40, 0.45], [0.50, 0.55]], "b": 0.60}]}


def deltaprop(*args, cwd):
    subprocess.run([sys.executable, "-m", "deltaprop", *args], cwd=cwd, check=True)


def small_png(path, colours=128):
    with Image.open(path) as image:
        image.convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path.name}: {path.stat().st_size / 1024:.0f} kB")


def browser(width, height):
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}",
                     "--hide-scrollbars"):
        options.add_argument(argument)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def open_page(driver, path):
    driver.get(Path(path).as_uri())
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.body.dataset.ready") == "true")


def click(driver, element_id, times=1):
    driver.execute_script("const b = document.getElementById(arguments[0]); "
                          "for (let n = 0; n < arguments[1]; n++) b.click();", element_id, times)


def main():
    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        (work / "example.json").write_text(json.dumps(EXAMPLE))
        deltaprop("draw", "--weights", "example.json", "--input", "0.05,0.10", "--target", "0.01,0.99",
                  "--color-by", "delta", "--out", str(IMAGES / "draw_222.png"), cwd=work)
        print(f"draw_222.png: {(IMAGES / 'draw_222.png').stat().st_size / 1024:.0f} kB")
        deltaprop("explore", "--weights", "example.json", "--input", "0.05,0.10", "--target", "0.01,0.99",
                  "--out", "example.html", cwd=work)
        deltaprop("explore", "--data", "xor", "--out", "xor.html", cwd=work)
        driver = browser(1280, 860)
        try:
            open_page(driver, work / "example.html")
            click(driver, "step-start")
            click(driver, "step-next", 4)  # forward through both layers, the cost, then BP1 at the output
            driver.execute_script("document.getElementById('color-by').value = 'delta'; "
                                  "document.getElementById('color-by').dispatchEvent(new Event('change'));")
            driver.save_screenshot(str(IMAGES / "explore_222_backward.png"))
            small_png(IMAGES / "explore_222_backward.png")
            open_page(driver, work / "xor.html")
            driver.set_script_timeout(300)
            for _ in range(10):  # 1,000 steps of the page's own SGD, in rounds of 100 clicks
                click(driver, "train-step", 100)
            shown = driver.execute_script("return ['train-steps', 'train-cost', 'train-accuracy'].map("
                                          "id => document.getElementById(id).textContent)")
            print("xor page after {} steps: cost {}, accuracy {}".format(*shown))
            driver.save_screenshot(str(IMAGES / "explore_xor_training.png"))
            small_png(IMAGES / "explore_xor_training.png")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
