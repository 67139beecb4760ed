"""Programme reviews (sơ kết / tổng kết): the figures of a year or a phase, as HTML and CSV.

`collect` reads the services' databases (read-only), `figures` computes every figure from
plain data, `tables` lays them out once for both `html` and `csv_files`, `charts` draws
inline SVG. `command` is the `exemplars report` console command.
"""
