package meta

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// A template comes with its report; a busy report refuses edits and
// deletes; only the latest job's news changes the report's status.
func TestEnergyTemplatesAndReports(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return t0 })
	if _, _, err := s.CreateEnergyTemplate(ctx, EnergyTemplate{Name: " "}); err == nil {
		t.Error("a template without a name was stored")
	}
	tpl, rep, err := s.CreateEnergyTemplate(ctx, EnergyTemplate{Name: "EUI", Metrics: []int{273, 285}, Tenant: "acct-1", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if tpl.ID == 0 || tpl.ReportID != rep.ID || rep.TemplateID != tpl.ID || rep.Status != EnergyInitialized {
		t.Fatalf("created %+v %+v", tpl, rep)
	}
	got, err := s.GetEnergyTemplate(ctx, tpl.ID)
	if err != nil || got.ReportID != rep.ID || len(got.Metrics) != 2 || got.Metrics[1] != 285 {
		t.Errorf("get template %+v %v", got, err)
	}
	tf := json.RawMessage(`{"kind":"singlePeriod","periodEndingDate":{"month":12,"year":2025}}`)
	r, err := s.ConfigureEnergyReport(ctx, rep.ID, tf, []string{"p1", "p2"}, t0)
	if err != nil || r.Status != EnergyInitialized || len(r.Properties) != 2 || string(r.Timeframe) != string(tf) {
		t.Fatalf("configure %+v %v", r, err)
	}
	if r, err = s.SubmitEnergyReport(ctx, rep.ID, "job_1", t0); err != nil || r.Status != EnergySubmitted || r.Submitted == nil {
		t.Fatalf("submit %+v %v", r, err)
	}
	if _, err := s.SubmitEnergyReport(ctx, rep.ID, "job_2", t0); !errors.Is(err, ErrReportBusy) {
		t.Errorf("second submit: %v", err)
	}
	if _, err := s.ConfigureEnergyReport(ctx, rep.ID, tf, []string{"p3"}, t0); !errors.Is(err, ErrReportBusy) {
		t.Errorf("configure while submitted: %v", err)
	}
	if _, err := s.UpdateEnergyTemplate(ctx, EnergyTemplate{ID: tpl.ID, Name: "x", Metrics: []int{1}}); !errors.Is(err, ErrReportBusy) {
		t.Errorf("template edit while submitted: %v", err)
	}
	if err := s.DeleteEnergyTemplate(ctx, tpl.ID); !errors.Is(err, ErrReportBusy) {
		t.Errorf("template delete while submitted: %v", err)
	}
	if err := s.SetEnergyGeneration(ctx, "job_1", EnergyInProcess, "", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEnergyGeneration(ctx, "job_old", EnergyFailed, "old", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEnergyGeneration(ctx, "job_1", EnergyGenerated, "", t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	r, _ = s.GetEnergyReport(ctx, rep.ID)
	if r.Status != EnergyGenerated || r.Error != "" || r.Started == nil || r.Ended == nil || !r.Ended.Equal(t0.Add(2*time.Second)) {
		t.Errorf("after generation %+v", r)
	}
	// an edit resets the report
	if _, err := s.UpdateEnergyTemplate(ctx, EnergyTemplate{ID: tpl.ID, Name: "EUI 2", Metrics: []int{438}}); err != nil {
		t.Fatal(err)
	}
	r, _ = s.GetEnergyReport(ctx, rep.ID)
	if r.Status != EnergyInitialized || r.JobID != "" {
		t.Errorf("after a template edit %+v", r)
	}
	// listing by principal
	if _, _, err := s.CreateEnergyTemplate(ctx, EnergyTemplate{Name: "other", Tenant: "acct-2", User: "v"}); err != nil {
		t.Fatal(err)
	}
	mine, _ := s.ListEnergyTemplates(ctx, "acct-1", "u", false)
	all, _ := s.ListEnergyTemplates(ctx, "", "", true)
	reps, _ := s.ListEnergyReports(ctx, "acct-2", "v", false)
	if len(mine) != 1 || len(all) != 2 || len(reps) != 1 || reps[0].Tenant != "acct-2" {
		t.Errorf("lists: %d mine, %d all, %d reports", len(mine), len(all), len(reps))
	}
	if err := s.DeleteEnergyTemplate(ctx, tpl.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetEnergyReport(ctx, rep.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("report after its template was deleted: %v", err)
	}
}
