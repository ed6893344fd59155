package features

// Labels are the words a quality operator reads in an explanation, per feature name
// (French, like the rest of the line's messages), with the unit the value is shown in.
var Labels = map[string]Label{
	"tof_height_mean_mm":     {"hauteur moyenne du produit", "mm"},
	"tof_height_max_mm":      {"hauteur maximale du produit", "mm"},
	"tof_height_std_mm":      {"irrégularité de hauteur (écart-type)", "mm"},
	"tof_coverage":           {"part de la barquette couverte", ""},
	"tof_height_uniformity":  {"régularité de la surface mesurée", ""},
	"tof_volume_cm3":         {"volume mesuré", "cm³"},
	"tof_weight_g":           {"poids estimé", "g"},
	"tof_surface_uniformity": {"uniformité de surface (capteur)", ""},
	"tof_defect_zones":       {"zones en creux (défauts de surface)", ""},
	"tof_device_defects":     {"défauts signalés par le capteur ToF", ""},
	"tof_edge_height_ratio":  {"produit sur les bords de la barquette", ""},
	"tof_reflectance_mean":   {"réflectance moyenne", "%"},
	"tof_reflectance_std":    {"hétérogénéité de réflectance", "%"},
	"tof_amplitude_mean":     {"amplitude moyenne du signal ToF", ""},
	"tof_amplitude_cv":       {"instabilité du signal ToF", ""},
	"tof_quality_score":      {"score qualité ToF (capteur)", ""},
	"hist_present":           {"histogrammes ToF disponibles", ""},
	"hist_signal_mean":       {"intensité des histogrammes ToF", ""},
	"hist_peak_bin_mean":     {"position moyenne du pic ToF", ""},
	"hist_peak_bin_std":      {"dispersion des pics ToF", ""},
	"hist_spread_mean":       {"rugosité de surface (largeur des pics)", ""},
	"hist_entropy_mean":      {"désordre des histogrammes ToF", ""},
	"hist_multi_peak_ratio":  {"zones à double surface (plis, corps étrangers)", ""},
	"spec_f1_rel":            {"part du violet (415 nm)", ""},
	"spec_f2_rel":            {"part de l'indigo (445 nm)", ""},
	"spec_f3_rel":            {"part du bleu (480 nm)", ""},
	"spec_f4_rel":            {"part du cyan (515 nm)", ""},
	"spec_f5_rel":            {"part du vert (555 nm)", ""},
	"spec_f6_rel":            {"part du jaune (590 nm)", ""},
	"spec_f7_rel":            {"part de l'orange (630 nm)", ""},
	"spec_f8_rel":            {"part du rouge (680 nm)", ""},
	"spec_red_green":         {"rapport rouge/vert (brunissement, hématome)", ""},
	"spec_yellow_blue":       {"rapport jaune/bleu (bile, couleur du gras)", ""},
	"spec_violet_orange":     {"rapport violet/orange (oxydation lipidique)", ""},
	"spec_nir_red":           {"rapport proche infrarouge/rouge", ""},
	"spec_freshness_index":   {"indice de fraîcheur", ""},
	"spec_fat_quality_index": {"indice de qualité du gras", ""},
	"spec_oxidation_index":   {"indice d'oxydation", ""},
	"spec_quality_score":     {"score qualité spectral (capteur)", ""},
	"fusion_tof_score":       {"score ToF de la fusion", ""},
	"fusion_spectral_score":  {"score spectral de la fusion", ""},
	"fusion_weighted_score":  {"score pondéré 60/40 ToF/spectral", ""},
}

// Label is the operator-facing name and unit of a feature.
type Label struct {
	Text string
	Unit string
}
