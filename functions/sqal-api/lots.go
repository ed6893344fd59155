package sqalapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/quality"
	"github.com/sqalfn/sqal/shared/sqalread"
)

type lotQualityResponse struct {
	LotID             int64                  `json:"lot_id"`
	TotalSamples      int64                  `json:"total_samples"`
	AvgQualityScore   float64                `json:"avg_quality_score"`
	CompliancePct     float64                `json:"compliance_rate_pct"`
	GradeDistribution map[string]int64       `json:"grade_distribution"`
	Samples           []*sqalread.SampleDict `json:"samples"`
}

// lotQuality is #14 GET /api/sqal/integration/lot/{lot_id}: aggregates over every
// sample of the lot, in SQL (legacy filtered the 10,000 newest samples of 90 days in
// Python), plus the 50 newest samples.
func (a *API) lotQuality(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	id := p.Path("lot_id").RequiredInt()
	if !p.Check(w) {
		return
	}
	ctx := r.Context()
	resp := lotQualityResponse{LotID: int64(id), GradeDistribution: map[string]int64{}}
	rows, err := a.db.Query(ctx, `SELECT fusion_final_grade, count(*), sum(fusion_final_score),
  count(*) FILTER (WHERE COALESCE(fusion_is_compliant, fusion_final_grade <> 'REJECT'))
FROM sensor_samples WHERE lot_id = $1 GROUP BY 1`, id)
	if err != nil {
		a.fail(w, r, fmt.Errorf("lot %d quality: %w", id, err))
		return
	}
	var (
		g            string
		n, compliant int64
		sc, sum      float64
		compl        int64
	)
	_, err = pgx.ForEachRow(rows, []any{&g, &n, &sc, &compliant}, func() error {
		resp.GradeDistribution[g] = n
		resp.TotalSamples += n
		sum += sc
		compl += compliant
		return nil
	})
	if err != nil {
		a.fail(w, r, fmt.Errorf("lot %d quality: %w", id, err))
		return
	}
	if resp.TotalSamples == 0 {
		httpapi.Detail(w, http.StatusNotFound, fmt.Sprintf("Aucune donnée qualité pour lot %d", id))
		return
	}
	resp.AvgQualityScore = quality.Round(sum/float64(resp.TotalSamples), 3)
	resp.CompliancePct = quality.Round(float64(compl)/float64(resp.TotalSamples)*100, 1)
	rows, err = a.db.Query(ctx, `SELECT `+sqalread.SampleColumns+` FROM sensor_samples WHERE lot_id = $1
ORDER BY "timestamp" DESC, sample_id DESC LIMIT 50`, id)
	if err != nil {
		a.fail(w, r, fmt.Errorf("lot %d samples: %w", id, err))
		return
	}
	resp.Samples, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*sqalread.SampleDict, error) {
		return sqalread.ScanSample(row)
	})
	if err != nil {
		a.fail(w, r, fmt.Errorf("lot %d samples: %w", id, err))
		return
	}
	httpapi.JSON(w, http.StatusOK, resp)
}

type lotAggregate struct {
	LotID              int64    `json:"lot_id"`
	NbEchantillons     int64    `json:"nb_echantillons"`
	ScoreQualiteMoyen  *float64 `json:"score_qualite_moyen"`
	GradeMajoritaire   *string  `json:"grade_majoritaire"`
	TofScoreMoyen      *float64 `json:"tof_score_moyen"`
	SpectralScoreMoyen *float64 `json:"spectral_score_moyen"`
	IndiceFraicheur    *float64 `json:"indice_fraicheur"`
	IndiceQualiteGras  *float64 `json:"indice_qualite_gras"`
	IndiceOxydation    *float64 `json:"indice_oxydation"`
}

type lotsAggregatedResponse struct {
	TotalLots int            `json:"total_lots"`
	Lots      []lotAggregate `json:"lots"`
}

// lotsAggregated is #15 GET /api/sqal/integration/lots-aggregated (Euralis analytics):
// one item per lot, averages rounded to 4 decimals, null only for SQL NULL (legacy
// turned 0 into null). Read from the per-lot rollup, and cached.
func (a *API) lotsAggregated(w http.ResponseWriter, r *http.Request) {
	resp, err := get(r.Context(), a.cache, "lots", "all", func(ctx context.Context) (lotsAggregatedResponse, error) {
		// From the per-lot rollup (migration 00043): a few rows per lot instead of
		// every sample that has a lot. Its key is (lot, grade, organisation): one row per
		// (lot, grade) in an organisation's scope, but possibly several in the
		// all-organisations scope (lots are shared reference data), so the majority
		// grade is taken over the per-grade sums.
		rows, err := a.db.Query(ctx, `WITH t AS (
  SELECT lot_id, sum(n)::bigint AS n,
    sum(sum_score) AS ss, sum(n_score) AS ns, sum(sum_tof) AS st, sum(n_tof) AS nt,
    sum(sum_spectral) AS sp, sum(n_spectral) AS np, sum(sum_freshness) AS sf, sum(n_freshness) AS nf,
    sum(sum_fat) AS sa, sum(n_fat) AS na, sum(sum_oxidation) AS so, sum(n_oxidation) AS no
  FROM sqal_sample_lot GROUP BY lot_id
), top AS (
  SELECT DISTINCT ON (lot_id) lot_id, grade
  FROM (SELECT lot_id, grade, sum(n) AS n FROM sqal_sample_lot GROUP BY lot_id, grade) g
  ORDER BY lot_id, n DESC, grade
)
SELECT t.lot_id, t.n,
  round((ss / NULLIF(ns, 0))::numeric, 4)::float8, top.grade,
  round((st / NULLIF(nt, 0))::numeric, 4)::float8,
  round((sp / NULLIF(np, 0))::numeric, 4)::float8,
  round((sf / NULLIF(nf, 0))::numeric, 4)::float8,
  round((sa / NULLIF(na, 0))::numeric, 4)::float8,
  round((so / NULLIF(no, 0))::numeric, 4)::float8
FROM t JOIN top ON top.lot_id = t.lot_id ORDER BY t.lot_id`)
		if err != nil {
			return lotsAggregatedResponse{}, fmt.Errorf("aggregate lots: %w", err)
		}
		lots := []lotAggregate{}
		var l lotAggregate
		_, err = pgx.ForEachRow(rows, []any{&l.LotID, &l.NbEchantillons, &l.ScoreQualiteMoyen, &l.GradeMajoritaire,
			&l.TofScoreMoyen, &l.SpectralScoreMoyen, &l.IndiceFraicheur, &l.IndiceQualiteGras, &l.IndiceOxydation},
			func() error { lots = append(lots, l); l = lotAggregate{}; return nil })
		if err != nil {
			return lotsAggregatedResponse{}, fmt.Errorf("aggregate lots: %w", err)
		}
		return lotsAggregatedResponse{TotalLots: len(lots), Lots: lots}, nil
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, resp)
}

// lotQualite is GET /api/lots/{lot_id}/qualite (contract §7.2, Gaveurs app). Legacy
// answered 500 for every lot (it counted a column sensor_samples does not have);
// compliance now comes from fusion_is_compliant.
func (a *API) lotQualite(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	id := p.Path("lot_id").RequiredInt()
	if !p.Check(w) {
		return
	}
	ctx := r.Context()
	var exists bool
	if err := a.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM lots_gavage WHERE id = $1)`, id).Scan(&exists); err != nil {
		a.fail(w, r, fmt.Errorf("lot %d: %w", id, err))
		return
	}
	if !exists {
		httpapi.Detail(w, http.StatusNotFound, fmt.Sprintf("Lot %d non trouvé", id))
		return
	}
	resp, err := a.loadLotQualite(ctx, int64(id))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, resp)
}

type lotQualite struct {
	LotID            int64            `json:"lot_id"`
	HasSQALData      bool             `json:"has_sqal_data"`
	Message          *string          `json:"message,omitempty"`
	NbEchantillons   int64            `json:"nb_echantillons"`
	PoidsFoie        *poidsFoie       `json:"poids_foie"`
	Volume           *volumeStats     `json:"volume"`
	Scores           *scoreStats      `json:"scores"`
	Grades           *gradeStats      `json:"grades"`
	IndicesSpectraux *indicesStats    `json:"indices_spectraux"`
	Conformite       *conformiteStats `json:"conformite"`
	Dates            *dateStats       `json:"dates"`
}

type poidsFoie struct {
	MoyenG     *float64 `json:"moyen_g"`
	MinG       *float64 `json:"min_g"`
	MaxG       *float64 `json:"max_g"`
	EcartTypeG *float64 `json:"ecart_type_g"`
}

type volumeStats struct {
	MoyenMM3          *float64 `json:"moyen_mm3"`
	HauteurMoyenneMM  *float64 `json:"hauteur_moyenne_mm"`
	UniformiteSurface *float64 `json:"uniformite_surface"`
}

type scoreStats struct {
	Moyen *float64 `json:"moyen"`
	Min   *float64 `json:"min"`
	Max   *float64 `json:"max"`
}

type gradeStats struct {
	Majoritaire    *string          `json:"majoritaire"`
	Repartition    map[string]int64 `json:"repartition"`
	PourcentAPlusA float64          `json:"pourcent_a_plus_a"`
}

type indicesStats struct {
	Fraicheur   *float64 `json:"fraicheur"`
	QualiteGras *float64 `json:"qualite_gras"`
	Oxydation   *float64 `json:"oxydation"`
}

type conformiteStats struct {
	NbConformes       int64   `json:"nb_conformes"`
	PourcentConformes float64 `json:"pourcent_conformes"`
}

type dateStats struct {
	PremiereMesure stamp `json:"premiere_mesure"`
	DerniereMesure stamp `json:"derniere_mesure"`
}

const noSQALData = "Aucune mesure de contrôle qualité SQAL pour ce lot"

// loadLotQualite aggregates sensor_samples WHERE lot_id = id AND poids_foie_estime_g IS
// NOT NULL with the contract's rounding, in SQL (null only for SQL NULL).
func (a *API) loadLotQualite(ctx context.Context, id int64) (lotQualite, error) {
	var (
		q           = lotQualite{LotID: id}
		pf          poidsFoie
		v           volumeStats
		sc          scoreStats
		ix          indicesStats
		nConf       int64
		first, last *time.Time
		majority    *string
		aPlus, a1   int64
	)
	err := a.db.QueryRow(ctx, `WITH s AS (
  SELECT * FROM sensor_samples WHERE lot_id = $1 AND poids_foie_estime_g IS NOT NULL
)
SELECT count(*),
  round(avg(poids_foie_estime_g)::numeric, 1)::float8, round(min(poids_foie_estime_g)::numeric, 1)::float8,
  round(max(poids_foie_estime_g)::numeric, 1)::float8, round(stddev_samp(poids_foie_estime_g)::numeric, 1)::float8,
  round(avg(vl53l8ch_volume_mm3)::numeric, 0)::float8, round(avg(vl53l8ch_avg_height_mm)::numeric, 1)::float8,
  round(avg(vl53l8ch_surface_uniformity)::numeric, 3)::float8,
  round(avg(fusion_final_score)::numeric, 3)::float8, round(min(fusion_final_score)::numeric, 3)::float8,
  round(max(fusion_final_score)::numeric, 3)::float8,
  round(avg(as7341_freshness_index)::numeric, 3)::float8, round(avg(as7341_fat_quality_index)::numeric, 3)::float8,
  round(avg(as7341_oxidation_index)::numeric, 3)::float8,
  count(*) FILTER (WHERE COALESCE(fusion_is_compliant, fusion_final_grade <> 'REJECT')),
  min("timestamp"), max("timestamp"),
  (SELECT fusion_final_grade FROM s GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1),
  count(*) FILTER (WHERE fusion_final_grade = 'A+'), count(*) FILTER (WHERE fusion_final_grade = 'A')
FROM s`, id).Scan(&q.NbEchantillons, &pf.MoyenG, &pf.MinG, &pf.MaxG, &pf.EcartTypeG,
		&v.MoyenMM3, &v.HauteurMoyenneMM, &v.UniformiteSurface, &sc.Moyen, &sc.Min, &sc.Max,
		&ix.Fraicheur, &ix.QualiteGras, &ix.Oxydation, &nConf, &first, &last, &majority, &aPlus, &a1)
	if err != nil {
		return q, fmt.Errorf("lot %d quality: %w", id, err)
	}
	if q.NbEchantillons == 0 {
		msg := noSQALData
		q.Message = &msg
		return q, nil
	}
	counts, err := a.lotGradeCounts(ctx, id)
	if err != nil {
		return q, err
	}
	n := float64(q.NbEchantillons)
	q.HasSQALData = true
	q.PoidsFoie, q.Volume, q.Scores, q.IndicesSpectraux = &pf, &v, &sc, &ix
	q.Grades = &gradeStats{Majoritaire: majority, Repartition: counts,
		PourcentAPlusA: quality.Round(float64(aPlus+a1)/n*100, 1)}
	q.Conformite = &conformiteStats{NbConformes: nConf, PourcentConformes: quality.Round(float64(nConf)/n*100, 1)}
	q.Dates = &dateStats{PremiereMesure: stamp(*first), DerniereMesure: stamp(*last)}
	return q, nil
}

func (a *API) lotGradeCounts(ctx context.Context, id int64) (map[string]int64, error) {
	rows, err := a.db.Query(ctx, `SELECT fusion_final_grade, count(*) FROM sensor_samples
WHERE lot_id = $1 AND poids_foie_estime_g IS NOT NULL GROUP BY 1`, id)
	if err != nil {
		return nil, fmt.Errorf("lot %d grades: %w", id, err)
	}
	out := map[string]int64{}
	for _, g := range grades {
		out[g] = 0
	}
	var g string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&g, &n}, func() error { out[g] = n; return nil }); err != nil {
		return nil, fmt.Errorf("lot %d grades: %w", id, err)
	}
	return out, nil
}
