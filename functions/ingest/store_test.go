package ingest

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
	"github.com/sqalfn/sqal/shared/testenv"
)

// One group holding a sample twice and a sample already stored: the commit (one
// statement for samples and events) writes one row and one event per new sample_id and
// answers the others "duplicate", whatever order they come in.
func TestGroupWithRepeatsAndStoredSamples(t *testing.T) {
	db := testenv.DB(t)
	h := newHarness(t, db, nil)
	ctx := context.Background()
	pending := func(fixture string) *Pending {
		t.Helper()
		f, err := sample.Decode(fixtures.Load(t, fixture))
		if err != nil {
			t.Fatal(err)
		}
		p, err := h.svc.prepare(ctx, "", f)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	st := h.svc.Store()
	if r := st.Save(ctx, pending(fixtures.Sample1)); r.Err != nil || r.Status != StatusSaved {
		t.Fatalf("first sample: %+v", r)
	}

	group := []*storeReq{
		{p: pending(fixtures.Sample2), ctx: ctx},
		{p: pending(fixtures.Sample1), ctx: ctx}, // already stored
		{p: pending(fixtures.Sample2), ctx: ctx}, // repeated in the group
	}
	byID := map[*storeReq]string{}
	for _, r := range group {
		byID[r] = r.p.Sample.SampleID
	}
	statuses, err := st.commit(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	// commit sorts group by sample_id; statuses follow that order.
	var got []string
	for i, r := range group {
		got = append(got, byID[r]+"="+statuses[i])
	}
	slices.Sort(got)
	s1, s2 := pending(fixtures.Sample1).Sample.SampleID, pending(fixtures.Sample2).Sample.SampleID
	want := []string{s1 + "=" + StatusDuplicate, s2 + "=" + StatusDuplicate, s2 + "=" + StatusSaved}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	for _, id := range []string{s1, s2} {
		if n := count(t, db, `SELECT count(*) FROM sensor_samples WHERE sample_id = $1`, id); n != 1 {
			t.Errorf("%s: %d rows", id, n)
		}
		if n := count(t, db, `SELECT count(*) FROM event_outbox WHERE event_id = $1`, id); n != 1 {
			t.Errorf("%s: %d events", id, n)
		}
	}
}

// A statement of the batch that fails after the samples' INSERT ran (here the device
// upsert) rolls the whole group back: no row and no event without the others.
func TestGroupFailureWritesNothing(t *testing.T) {
	db := testenv.DB(t)
	h := newHarness(t, db, nil)
	ctx := context.Background()
	f, err := sample.Decode(fixtures.Load(t, fixtures.Sample2))
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.svc.prepare(ctx, "", f)
	if err != nil {
		t.Fatal(err)
	}
	// The device upsert is the batch's last statement: make it fail.
	if _, err := db.Exec(ctx, `CREATE FUNCTION refuse_device() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'device refused'; END $$;
		CREATE TRIGGER refuse_device BEFORE INSERT OR UPDATE ON sqal_devices
		FOR EACH ROW EXECUTE FUNCTION refuse_device()`); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.Store().commit(ctx, []*storeReq{{p: p, ctx: ctx}})
	if err == nil || !strings.Contains(err.Error(), "device refused") {
		t.Fatalf("commit: %v, want the device upsert's error", err)
	}
	if n := count(t, db, `SELECT (SELECT count(*) FROM sensor_samples) + (SELECT count(*) FROM event_outbox) + (SELECT count(*) FROM sqal_devices WHERE device_id = $1)`, p.Sample.DeviceID); n != 0 {
		t.Errorf("%d rows written by a failed group", n)
	}
}
