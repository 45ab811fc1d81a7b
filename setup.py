"""Maps the top-level folders into one `shuniu` package.

`from shuniu.scheduler import …` reads the `scheduler/` folder, so that no import name
(nodes, market, monitoring, …) can clash with another distribution's.
"""

from setuptools import find_packages, setup

_FOLDERS = {
    "shuniu": "shuniu",
    "shuniu.protos": "protos",
    "shuniu.scheduler": "scheduler",
    "shuniu.nodes": "nodes",
    "shuniu.market": "market",
    "shuniu.monitoring": "monitoring",
    "shuniu.security": "security",
}


def _packages() -> tuple[list[str], dict[str, str]]:
    packages, package_dir = [], {}
    for name, folder in _FOLDERS.items():
        package_dir[name] = folder
        packages.append(name)
        for sub in find_packages(folder):
            if name == "shuniu" and sub.split(".")[0] in {n.split(".")[1] for n in _FOLDERS if "." in n}:
                continue
            packages.append(f"{name}.{sub}")
    return packages, package_dir


_packages_found, _package_dir = _packages()
setup(packages=_packages_found, package_dir=_package_dir, package_data={"shuniu.protos": ["shuniu/v1/*.proto"], "shuniu.monitoring": ["*.json", "*.yml"]})
