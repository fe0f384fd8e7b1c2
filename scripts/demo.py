"""
``make demo``: run the example DAG through Airflow and print where the inpainted PNG is.

Without ``VYRO_API_TOKEN`` it starts the local emulator on loopback and points the
``vyro_default`` connection at it; with ``VYRO_API_TOKEN`` set, the same DAG calls the real API.
Everything lives in ``.scratch/demo`` (a scratch AIRFLOW_HOME with SQLite, and the output).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from airflow_provider_vyro.emulator import EmulatorProcess  # noqa: E402
from devtools.airflow_runner import AirflowSandbox, migrate_template  # noqa: E402
from scripts.side_by_side import side_by_side  # noqa: E402

SCRATCH = REPO / ".scratch" / "demo"
DAG_ID = "example_vyro_inpaint"


def main() -> int:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)
    real_token = os.environ.get("VYRO_API_TOKEN")
    with contextlib.ExitStack() as stack:
        if real_token:
            connection = json.dumps({"conn_type": "vyro", "password": real_token})
            print("VYRO_API_TOKEN is set: calling the real Vyro API (this spends credits).")
        else:
            emulator = stack.enter_context(EmulatorProcess(token="demo-token"))
            connection = emulator.connection_json()
            print(f"Started the local Vyro emulator at {emulator.url}")
        print("Preparing a scratch Airflow home (SQLite) ...")
        template = migrate_template(SCRATCH / "template")
        sandbox = AirflowSandbox(SCRATCH / "airflow", template, env={"AIRFLOW_CONN_VYRO_DEFAULT": connection})
        print(f"Running `airflow dags test {DAG_ID}` ...")
        result = sandbox.dags_test(DAG_ID, conf={"output_dir": str(SCRATCH / "output")})
    if result.state != "success":
        print(result.describe(), file=sys.stderr)
        print(f"The DAG run failed ({result.state}).", file=sys.stderr)
        return 1
    xcom = result.xcom("inpaint")
    png = Path(xcom["output_path"]).resolve()
    picture = side_by_side(
        Path(xcom["image_path"]), Path(xcom["mask_path"]), png, SCRATCH / "side_by_side.png"
    )
    print(f"Prompt: {xcom['prompt']!r}; {xcom['width']}x{xcom['height']} PNG, {xcom['bytes']} bytes")
    print(f"Input, mask and result side by side: {picture}")
    print(f"Inpainted PNG: {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
