"""Registries: one name → implementation table per extension point, open to installed packages.

Probes, region analyses, sweep executors, model sources and dataset sources each have one
:class:`Registry`. A registry holds

- the **built-ins**: every module of one package (``actcode.probes.builtin`` ...) registers its
  entry when imported, and the registry imports the whole package the first time it is asked
  anything, so adding a built-in is one new file in that package;
- the **plugins**: entry points of the registry's group (``actcode.probes``,
  ``actcode.analyses``, ``actcode.executors``, ``actcode.models``, ``actcode.datasets``) in any
  installed distribution. Each entry point names the object to register under the entry
  point's name, e.g. ``centroid = "actcode_blobs.probe:CentroidProbe"``.

Plugins are loaded lazily: :meth:`Registry.get` loads only the entry point of the name it is
asked for, and only when no built-in has that name; :meth:`Registry.names` (help texts, spec
validation) loads all of them. A plugin that fails to load raises :class:`PluginError` when it
is asked for by name; when names are listed it is left out with one line on stderr, so a broken
plugin never stops a command that does not use it.

Examples
--------
>>> reg: Registry[int] = Registry("number", "actcode.examples", builtins=None)
>>> reg.register("one", 1)
1
>>> reg.get("one"), reg.names()
(1, ('one',))
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from actcode.errors import InvalidParameterError, PluginError

T = TypeVar("T")

#: Entry-point groups, one per registry.
GROUPS = ("actcode.probes", "actcode.analyses", "actcode.executors", "actcode.models", "actcode.datasets")


def _stderr_line(line: str) -> None:
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed
        pass


class Registry(Generic[T]):
    """A name → implementation table with built-ins from a package and plugins from entry points.

    Parameters
    ----------
    kind : str
        What an entry is, for messages (``"probe"``).
    group : str
        The entry-point group of the plugins.
    builtins : str or None
        The package whose modules register the built-ins when imported.
    accept : callable, optional
        ``accept(name, obj)`` checks (and may convert) an object loaded from an entry point;
        it raises ``TypeError`` for an object that is not an entry. Default: identity.
    on_register : callable, optional
        Called with each entry as it is registered (a probe registers its metrics there).
    order : callable, optional
        Sort key of the built-ins (the order they run and are listed in); default: module name.
    """

    def __init__(
        self,
        kind: str,
        group: str,
        *,
        builtins: str | None,
        accept: Callable[[str, object], T] | None = None,
        on_register: Callable[[T], None] | None = None,
        order: Callable[[T], int] | None = None,
    ) -> None:
        self.kind = kind
        self.group = group
        self._builtins = builtins
        self._accept = accept
        self._on_register = on_register
        self._order = order
        self._table: dict[str, T] = {}
        self._plugin_names: list[str] = []
        self._loading_builtins = False
        self._builtins_loaded = builtins is None
        self._all_listed = False
        self._broken: dict[str, str] = {}

    # --- registration
    def register(self, name: str, item: T) -> T:
        """Add ``item`` under ``name`` (replacing an entry of that name) and return it."""
        if not name or name != name.strip() or "," in name:
            msg = f"a {self.kind} name must be a non-empty word without commas. Got {name!r} instead."
            raise ValueError(msg)
        self._table[name] = item
        if self._on_register is not None:
            self._on_register(item)
        return item

    def _load_builtins(self) -> None:
        if self._builtins_loaded or self._loading_builtins or self._builtins is None:
            return
        self._loading_builtins = True
        try:
            package = importlib.import_module(self._builtins)
            for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{self._builtins}.{info.name}")
        finally:
            self._loading_builtins = False
        self._builtins_loaded = True

    # --- plugins
    def _entry_points(self) -> list[EntryPoint]:
        return list(entry_points(group=self.group))

    def _load_entry_point(self, ep: EntryPoint) -> None:
        where = f"{self.kind} plugin {ep.name!r} ({ep.value}"
        dist = getattr(ep, "dist", None)
        where += f", from {dist.name})" if dist is not None else ")"
        try:
            obj = ep.load()
            item = self._accept(ep.name, obj) if self._accept is not None else obj
        except Exception as exc:  # noqa: BLE001 - any failure of a plugin's code is reported, not raised
            text = " ".join(str(exc).split()) or "no message"
            self._broken[ep.name] = f"{where} failed to load: {type(exc).__name__}: {text}"
            return
        self.register(ep.name, item)
        self._plugin_names.append(ep.name)

    def _load_plugin(self, name: str) -> None:
        for ep in self._entry_points():
            if ep.name == name and name not in self._table:
                self._load_entry_point(ep)

    def _load_all_plugins(self) -> None:
        if self._all_listed:
            return
        self._all_listed = True
        for ep in self._entry_points():
            if ep.name not in self._table and ep.name not in self._broken:
                self._load_entry_point(ep)
                if ep.name in self._broken:
                    _stderr_line(f"actcode: warning: {self._broken[ep.name]}; it is left out.")

    # --- lookup
    def get(self, name: str, *, option: str | None = None) -> T:
        """The entry ``name``: a built-in, else the plugin of that name (loaded now).

        Raises
        ------
        PluginError
            The plugin of that name failed to load (the message names it and its error).
        InvalidParameterError
            No built-in and no plugin has that name (the message lists the names).
        """
        self._load_builtins()
        if name not in self._table:
            self._load_plugin(name)
        if name in self._table:
            return self._table[name]
        if name in self._broken:
            raise PluginError(self._broken[name])
        what = option or f"the {self.kind}"
        msg = f"{what} must be one of {', '.join(self.names())}. Got {name!r} instead."
        raise InvalidParameterError(msg)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        self._load_builtins()
        if name not in self._table:
            self._load_plugin(name)
        return name in self._table

    def check_loaded(self, name: str) -> None:
        """Raise :class:`PluginError` if the plugin ``name`` failed to load (after ``name in registry``)."""
        if name in self._broken and name not in self._table:
            raise PluginError(self._broken[name])

    def builtin_names(self) -> tuple[str, ...]:
        """Names of the built-ins, in their order."""
        self._load_builtins()
        names = [n for n in self._table if n not in self._plugin_names]
        if self._order is not None:
            key = self._order
            names.sort(key=lambda n: key(self._table[n]))
        return tuple(names)

    def names(self) -> tuple[str, ...]:
        """Every name: the built-ins in their order, then the plugins (all loaded now)."""
        self._load_builtins()
        self._load_all_plugins()
        return self.builtin_names() + tuple(n for n in self._plugin_names if n in self._table)

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) of every built-in and plugin."""
        return [(n, self._table[n]) for n in self.names()]


__all__ = ["GROUPS", "PluginError", "Registry"]
