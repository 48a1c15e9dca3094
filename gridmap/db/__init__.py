"""Database layer: schema (models, migrations), engines, and the SQL of each table family (one
module per family: reads and writes together). The project-local cluster used in development is
:mod:`gridmap.devdb`."""
