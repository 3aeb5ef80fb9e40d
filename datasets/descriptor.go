package datasets

// Descriptor is a dataset as the insights API's GET /ScheduledDataset
// describes it.
type Descriptor struct {
	DatasetName               string   `json:"datasetName"`
	SelectableColumns         []string `json:"selectableColumns"`
	AvailableMetrics          []string `json:"availableMetrics"`
	AvailableDateRanges       []string `json:"availableDateRanges"`
	MinimumRecurrenceInterval int      `json:"minimumRecurrenceInterval,omitempty"`
}

// Descriptor builds the dataset's descriptor under the name a client
// asked for (an alias such as ISVUsage, or the canonical name when
// empty). Metrics are listed apart; every other column is selectable.
func (d *Dataset) Descriptor(name string) Descriptor {
	if name == "" {
		name = d.Name
		if len(d.Aliases) > 0 {
			name = d.Aliases[0]
		}
	}
	desc := Descriptor{
		DatasetName:               name,
		SelectableColumns:         []string{},
		AvailableMetrics:          []string{},
		AvailableDateRanges:       append([]string{}, d.DateRanges...),
		MinimumRecurrenceInterval: d.MinimumRecurrenceInterval,
	}
	for _, c := range d.Columns {
		if c.Role == Metric {
			desc.AvailableMetrics = append(desc.AvailableMetrics, c.Name)
		} else {
			desc.SelectableColumns = append(desc.SelectableColumns, c.Name)
		}
	}
	return desc
}
