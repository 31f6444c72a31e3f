"""``nadaraya explore``: the chapter as an interactive page, a thin shell over the library.

:mod:`.state` turns the page's controls into numbers with the library's own
functions (no Bokeh); :mod:`.app` lays out the Bokeh document and wires its
callbacks; :mod:`.server` runs a Bokeh server on 127.0.0.1; :mod:`.command`
is the CLI subcommand. Bokeh comes with the ``explore`` extra
(``pip install 'nadaraya[explore]'``) and is imported only by ``app`` and ``server``.
"""
