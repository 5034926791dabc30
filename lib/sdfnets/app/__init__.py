"""What a user runs: the ``sdfnets`` command (:mod:`.cli`), image -> mesh (:mod:`.image2mesh`) and
the web demo (:mod:`.demo`). It loads releases and trains nothing."""
