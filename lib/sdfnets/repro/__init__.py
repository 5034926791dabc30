"""The reproduction machinery: executing the notebooks (:mod:`.execute`), where recorded values come
from and whether they are current (:mod:`.provenance`), drift against the values they replace
(:mod:`.drift`), the write-up as one page (:mod:`.report`) and the workflow's view of the notebooks
(:mod:`.workflow`). It serves the science and is never imported by it."""
