"""A fixed sources table for chart and formatting tests, so that baselines do not move when
data/sources.csv does."""

import pandas as pd

SOURCES = pd.DataFrame(
    {
        "source_id": ["tc", "tc-sensortower", "tc-company"],
        "publisher": ["TechCrunch", "TechCrunch", "TechCrunch"],
        "producer": ["TechCrunch", "Sensor Tower", "Banma"],
        "date_published": ["2021-07", "2021-07", "2021-07-02"],
    },
    dtype="string",
)
