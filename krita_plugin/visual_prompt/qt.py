"""The one place that imports Qt.

Krita 5.x ships PyQt5; Krita 6 (and some newer 5.x builds) ship PyQt6 and refuse PyQt5.
Everything else in the plugin imports Qt names from here and uses fully scoped enum
names (``Qt.AlignmentFlag.AlignLeft``), which both bindings accept.
"""

from __future__ import annotations

try:
    from PyQt5 import QtCore, QtGui, QtNetwork, QtWidgets
    from PyQt5.QtCore import (
        QByteArray,
        QEventLoop,
        QObject,
        QProcess,
        QProcessEnvironment,
        Qt,
        QTimer,
        QUrl,
        pyqtSignal,
        pyqtSlot,
    )
    from PyQt5.QtGui import QColor, QIcon, QImage, QKeySequence, QPainter
    from PyQt5.QtNetwork import (
        QNetworkAccessManager,
        QNetworkProxy,
        QNetworkReply,
        QNetworkRequest,
    )
    from PyQt5.QtWidgets import (
        QApplication,
        QCheckBox,
        QComboBox,
        QFileDialog,
        QFormLayout,
        QGroupBox,
        QHBoxLayout,
        QLabel,
        QLineEdit,
        QProgressBar,
        QPushButton,
        QSpinBox,
        QToolButton,
        QVBoxLayout,
        QWidget,
    )

    QT_API = "PyQt5"
except ImportError:  # pragma: no cover - exercised only on a PyQt6 Krita
    from PyQt6 import QtCore, QtGui, QtNetwork, QtWidgets  # type: ignore[no-redef]
    from PyQt6.QtCore import (  # type: ignore[no-redef,assignment]
        QByteArray,
        QEventLoop,
        QObject,
        QProcess,
        QProcessEnvironment,
        Qt,
        QTimer,
        QUrl,
        pyqtSignal,
        pyqtSlot,
    )
    from PyQt6.QtGui import (  # type: ignore[no-redef,assignment]
        QColor,
        QIcon,
        QImage,
        QKeySequence,
        QPainter,
    )
    from PyQt6.QtNetwork import (  # type: ignore[no-redef,assignment]
        QNetworkAccessManager,
        QNetworkProxy,
        QNetworkReply,
        QNetworkRequest,
    )
    from PyQt6.QtWidgets import (  # type: ignore[no-redef,assignment]
        QApplication,
        QCheckBox,
        QComboBox,
        QFileDialog,
        QFormLayout,
        QGroupBox,
        QHBoxLayout,
        QLabel,
        QLineEdit,
        QProgressBar,
        QPushButton,
        QSpinBox,
        QToolButton,
        QVBoxLayout,
        QWidget,
    )

    QT_API = "PyQt6"


def image_bytes(image: QImage) -> bytes:
    """The raw bytes of a QImage (rows are not padded for 32-bit formats)."""
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    return bytes(ptr)


def byte_array_data(data: QByteArray) -> bytes:
    return bytes(data.data())


__all__ = [
    "QT_API",
    "QApplication",
    "QByteArray",
    "QCheckBox",
    "QColor",
    "QComboBox",
    "QEventLoop",
    "QFileDialog",
    "QFormLayout",
    "QGroupBox",
    "QHBoxLayout",
    "QIcon",
    "QImage",
    "QKeySequence",
    "QLabel",
    "QLineEdit",
    "QNetworkAccessManager",
    "QNetworkProxy",
    "QNetworkReply",
    "QNetworkRequest",
    "QObject",
    "QPainter",
    "QProcess",
    "QProcessEnvironment",
    "QProgressBar",
    "QPushButton",
    "QSpinBox",
    "QTimer",
    "QToolButton",
    "QUrl",
    "QVBoxLayout",
    "QWidget",
    "Qt",
    "QtCore",
    "QtGui",
    "QtNetwork",
    "QtWidgets",
    "byte_array_data",
    "image_bytes",
    "pyqtSignal",
    "pyqtSlot",
]
