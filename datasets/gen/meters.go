package gen

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

func init() { register("meters", newMeters) }

type meterDef struct {
	name, typ, unit string
	// gauge: value around base; cumulative: base per second of age;
	// delta: base per sample.
	base float64
}

var flavors = []struct {
	name  string
	vcpus int
	mem   int
}{{"m1.tiny", 1, 512}, {"m1.small", 1, 2048}, {"m1.medium", 2, 4096}, {"m1.large", 4, 8192}}

type meterResource struct {
	id, project, user, source, metadata string
	created                             time.Time
	meters                              []meterDef
	rate                                float64 // relative activity
}

type meters struct {
	res  []*meterResource // sorted by id
	dist *dist
}

// meterResources is how many resources the meters data has: 120 at the
// default and small scales (so their data stays as it was), one per
// 10,000 rows from 1.2M rows on (10M rows: 1,000 resources), at most
// 100,000.
func meterResources(rows int64) int {
	n := rows / 10_000
	switch {
	case n < 120:
		return 120
	case n > 100_000:
		return 100_000
	}
	return int(n)
}

func newMeters(e *env) generator {
	r := newRNG(e.seed, "meters", "entities")
	g := &meters{}
	pd := zipf(len(Projects), 1.1)
	var weights []float64
	for k := 0; k < meterResources(e.rows); k++ {
		p := Projects[pd.sample(r)]
		user := fmt.Sprintf("user-%d", 1+r.intn(12))
		res := &meterResource{id: r.uuid(), project: p, user: user, source: "openstack",
			created: e.first().AddDate(0, 0, -r.intn(200))}
		var md map[string]any
		switch kind := r.intn(10); {
		case kind < 6:
			f := flavors[r.intn(len(flavors))]
			if k < 4 {
				f = flavors[0] // the biggest resources are m1.tiny instances
			}
			md = map[string]any{"display_name": fmt.Sprintf("%s-vm-%d", p, k), "instance_type": f.name,
				"host": fmt.Sprintf("compute-%d", 1+r.intn(8)), "state": "active", "vcpus": f.vcpus, "memory_mb": f.mem,
				"image_ref_url": "http://glance.example:9292/images/" + r.uuid()}
			res.meters = []meterDef{
				{"instance", "gauge", "instance", 1}, {"instance:" + f.name, "gauge", "instance", 1},
				{"cpu", "cumulative", "ns", 1e9 * float64(f.vcpus) * 0.3}, {"cpu_util", "gauge", "%", 30},
				{"memory", "gauge", "MB", float64(f.mem)}, {"vcpus", "gauge", "vcpu", float64(f.vcpus)},
				{"disk.read.bytes", "cumulative", "B", 40e3}, {"disk.write.bytes", "cumulative", "B", 25e3},
				{"disk.read.requests", "cumulative", "requests", 4}, {"network.incoming.bytes", "cumulative", "B", 90e3},
				{"network.outgoing.bytes", "cumulative", "B", 60e3}, {"network.incoming.packets", "cumulative", "packets", 70},
			}
		case kind < 8:
			size := []int{10, 20, 50, 100}[r.intn(4)]
			md = map[string]any{"display_name": fmt.Sprintf("%s-vol-%d", p, k), "size": size, "status": "in-use"}
			res.meters = []meterDef{{"volume", "gauge", "volume", 1}, {"volume.size", "gauge", "GiB", float64(size)}}
		case kind < 9:
			md = map[string]any{"name": fmt.Sprintf("image-%d", k), "disk_format": "qcow2", "size": (1 + r.intn(4)) << 30}
			res.meters = []meterDef{{"image", "gauge", "image", 1}, {"image.size", "gauge", "B", float64(1 << 30)},
				{"image.download", "delta", "B", 5e8}, {"image.serve", "delta", "B", 5e8}}
			res.user = ""
			res.source = "image-service"
		default:
			md = map[string]any{"container": fmt.Sprintf("bucket-%d", k)}
			res.meters = []meterDef{{"storage.objects", "gauge", "objects", 500}, {"storage.objects.size", "gauge", "B", 5e9},
				{"storage.objects.incoming.bytes", "delta", "B", 2e6}, {"ip.floating", "gauge", "ip", 1}}
		}
		b, _ := json.Marshal(md)
		res.metadata = string(b)
		g.res = append(g.res, res)
		weights = append(weights, 1/math.Pow(float64(k+1), 1.0))
	}
	// Emit in resource_id order; the weights travel with the resources.
	idx := make([]int, len(g.res))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return g.res[idx[a]].id < g.res[idx[b]].id })
	sorted := make([]*meterResource, len(idx))
	sw := make([]float64, len(idx))
	for i, j := range idx {
		sorted[i], sw[i] = g.res[j], weights[j]
	}
	g.res, g.dist = sorted, newDist(sw)
	return g
}

func (g *meters) plan(e *env) ([]time.Time, []int64) { return dailyPlan(e, 100_000, 1.3, flatWeek) }

func (g *meters) day(dc *dayCtx) error {
	r, w := dc.r, dc.w
	counts := countPerTenant(r, g.dist, len(g.res), dc.n)
	dayUs := dc.day.UnixMicro()
	var ts []int64
	n := 0
	for i, res := range g.res {
		k := int(counts[i])
		ts = ts[:0]
		for j := 0; j < k; j++ {
			h := hourDist.sample(r)
			ts = append(ts, dayUs+int64(h)*3_600_000_000+int64(r.intn(3_600_000_000)))
		}
		slices.Sort(ts)
		for _, t := range ts {
			if err := dc.checkCtx(n); err != nil {
				return err
			}
			n++
			m := res.meters[r.intn(len(res.meters))]
			at := time.UnixMicro(t).UTC()
			var v float64
			switch m.typ {
			case "cumulative":
				v = math.Round(m.base * at.Sub(res.created).Seconds())
			case "delta":
				v = math.Round(m.base * (0.2 + 1.6*r.float()))
			default:
				v = m.base
				if m.name == "cpu_util" {
					v = math.Round(math.Min(100, r.lognorm(m.base, 0.6))*100) / 100
				} else if m.name == "storage.objects" || m.name == "storage.objects.size" {
					v = math.Round(m.base * (1 + dc.frac))
				}
			}
			w.S("message_id", r.uuid())
			w.S("source", res.source)
			w.S("counter_name", m.name)
			w.S("counter_type", m.typ)
			w.S("counter_unit", m.unit)
			w.F("counter_volume", v)
			w.SN("user_id", res.user)
			w.S("project_id", res.project)
			w.S("resource_id", res.id)
			w.T("timestamp", at)
			w.S("resource_metadata", res.metadata)
			w.S("message_signature", r.hexString(64))
			if err := w.emit(); err != nil {
				return err
			}
		}
	}
	return nil
}
