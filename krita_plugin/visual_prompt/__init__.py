"""Visual Prompt for Krita: apply the transformation shown by example layer pairs.

Inside Krita this registers the extension (action, shutdown) and the docker. Outside
Krita (tests, tools) importing the package registers nothing.
"""

from __future__ import annotations

__version__ = "0.1.0"


def _register() -> None:
    try:
        from krita import DockWidgetFactory, DockWidgetFactoryBase, Krita
    except ImportError:  # not running inside Krita
        return
    from .docker import DOCKER_ID, VisualPromptDocker
    from .extension import VisualPromptExtension

    app = Krita.instance()
    app.addExtension(VisualPromptExtension(app))
    scoped = getattr(DockWidgetFactoryBase, "DockPosition", DockWidgetFactoryBase)
    app.addDockWidgetFactory(DockWidgetFactory(DOCKER_ID, scoped.DockRight, VisualPromptDocker))


_register()
