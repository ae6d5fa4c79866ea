"""The public catalogue of procedures handled by the department.

The catalogue is data the province edits: a YAML file (``CATALOGUE_PATH``; the packaged
``procedures.yaml`` when unset) with a header naming its version, its publication date
and the department. It is validated in full when loaded, and every fault of the file is
reported at once, each naming the entry and the field, so that an editor fixes a file in
one pass and a malformed file never reaches a citizen. `CatalogueHolder` re-reads the file
while the service runs and keeps every version it loaded; see docs/catalogue.md.
"""

from chassis.catalogue.holder import CatalogueHolder
from chassis.catalogue.loader import (
    UNVERSIONED,
    Catalogue,
    CatalogueChange,
    CatalogueError,
    CatalogueProblem,
    canonical_sha256,
    fold_text,
    load_default_catalogue,
    read_catalogue,
    version_id,
)
from chassis.catalogue.models import (
    DEFAULT_DEPARTMENT,
    Agency,
    Clock,
    Department,
    DossierKind,
    OnlineLevel,
    OnlineSteps,
    Procedure,
    RequiredDocument,
    ResultDocument,
    Sector,
)

__all__ = [
    "DEFAULT_DEPARTMENT",
    "UNVERSIONED",
    "Agency",
    "Catalogue",
    "CatalogueChange",
    "CatalogueError",
    "CatalogueHolder",
    "CatalogueProblem",
    "Clock",
    "Department",
    "DossierKind",
    "OnlineLevel",
    "OnlineSteps",
    "Procedure",
    "RequiredDocument",
    "ResultDocument",
    "Sector",
    "canonical_sha256",
    "fold_text",
    "load_default_catalogue",
    "read_catalogue",
    "version_id",
]
