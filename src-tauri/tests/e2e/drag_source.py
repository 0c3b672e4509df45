#!/usr/bin/python3
"""A drag source, as a file manager is one: a small window at the bottom right of the screen
whose button drags the paths given as arguments, as a text/uri-list. It prints "ready" once
shown and "dropped" when the drag ends (then exits). The test moves the real pointer with
xdotool, so the drop reaches the app through X's own drag-and-drop protocol (XDND), as a drop
from a desktop does."""

import sys
from pathlib import Path

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, Gtk  # noqa: E402

uris = [Path(p).resolve().as_uri() for p in sys.argv[1:]]
window = Gtk.Window(title="Files")
window.set_default_size(150, 80)
window.move(1120, 700)
button = Gtk.Button(label="Trip")
button.drag_source_set(Gdk.ModifierType.BUTTON1_MASK, [], Gdk.DragAction.COPY)
button.drag_source_add_uri_targets()
button.connect("drag-data-get", lambda _w, _ctx, data, _info, _time: data.set_uris(uris))
button.connect("drag-end", lambda *_: (print("dropped", flush=True), Gtk.main_quit()))
window.add(button)
window.connect("destroy", Gtk.main_quit)
window.connect("map-event", lambda *_: print("ready", flush=True))
window.show_all()
Gtk.main()
