package auth

import (
	"slices"
	"strings"
	"sync"
)

// Permission is what a route requires, "resource:action".
type Permission string

// Permissions of the product (README: "Roles and permissions").
const (
	All                 Permission = "*" // every permission (super_admin, legacy admin)
	DashboardView       Permission = "dashboard:view"
	AnalysisView        Permission = "analysis:view"
	AnalysisExport      Permission = "analysis:export"
	AlertsView          Permission = "alerts:view"
	AlertsManage        Permission = "alerts:manage"
	AIView              Permission = "ai:view"
	AITrain             Permission = "ai:train"
	AIManage            Permission = "ai:manage"
	PredictRun          Permission = "predict:run"
	LotsView            Permission = "lots:view"
	RealtimeView        Permission = "realtime:view"
	DevicesView         Permission = "devices:view"
	DevicesManage       Permission = "devices:manage"
	DevicesCalibrate    Permission = "devices:calibrate"
	AuditView           Permission = "audit:view"
	UsersView           Permission = "users:view"
	UsersManage         Permission = "users:manage"
	SettingsView        Permission = "settings:view"
	SettingsManage      Permission = "settings:manage"
	OrganizationsView   Permission = "organizations:view"
	OrganizationsManage Permission = "organizations:manage"
	OrganizationsAdmin  Permission = "organizations:admin" // create and delete organisations
	ReportsView         Permission = "reports:view"
	ReportsCreate       Permission = "reports:create"
	ReportsSchedule     Permission = "reports:schedule" // scheduled reports and templates
	AlertRulesManage    Permission = "alerts:rules"
	FirmwareManage      Permission = "firmware:manage" // firmware versions and OTA updates
)

// Route markers: not permissions a role holds, but how the middleware treats a route.
const (
	// Public routes need no token in any mode (health, documentation).
	Public Permission = "public"
	// Authenticated routes need a valid token, whatever its roles (the caller's own
	// profile).
	Authenticated Permission = "authenticated"
	// DeviceKey routes are the stations' ingestion paths: the middleware lets them
	// through and ingest authenticates the device key itself (INGEST_DEVICE_AUTH).
	DeviceKey Permission = "device"
	// Internal routes receive the broker's CloudEvent deliveries inside the cluster;
	// the route table never exposes them at the public entry point.
	Internal Permission = "internal"
)

// Realm roles of sqal_realm (backend-new §3.2) and of the legacy realm (§3.1), and
// the dashboard client's roles. Realm role hierarchy: each level holds the levels
// below (Keycloak composites; expanded here too so a token without composites works).
var (
	viewer             = []Permission{DashboardView, AnalysisView, AlertsView, AIView, LotsView, RealtimeView}
	dataAnalyst        = join(viewer, AnalysisExport, ReportsView, ReportsCreate)
	productionOperator = join(dataAnalyst, DevicesView, AITrain, PredictRun, AlertsManage)
	qualityManager     = join(productionOperator, AuditView, AlertRulesManage)
	// An organisation's administrator manages that organisation. Switching the quality
	// model (ai:manage) and the settings (settings:manage) change what every organisation
	// gets (the registry and admin_settings are shared), so they stay with super_admin.
	orgAdmin = join(qualityManager, DevicesManage, DevicesCalibrate, UsersView, UsersManage,
		SettingsView, OrganizationsView, OrganizationsManage, ReportsSchedule, FirmwareManage)
)

// RolePermissions maps a realm role to its permissions.
var RolePermissions = map[string][]Permission{
	// sqal_realm (the SQAL dashboard's realm)
	"super_admin":         {All},
	"org_admin":           orgAdmin,
	"quality_manager":     qualityManager,
	"production_operator": productionOperator,
	"data_analyst":        dataAnalyst,
	"viewer":              viewer,
	// legacy realm roles (gaveurs-production), mapped onto the same levels
	"admin":           {All},
	"superviseur":     qualityManager,
	"technicien_sqal": join(productionOperator, DevicesCalibrate),
	"gaveur":          {DashboardView, LotsView, RealtimeView},
	"consommateur":    {LotsView},
}

// ClientRolePermissions maps a role of the dashboard client (resource_access.<KEYCLOAK_CLIENT_ID>.roles).
var ClientRolePermissions = map[string][]Permission{
	"view_sensors":      {DashboardView, AnalysisView},
	"manage_quality":    {AlertsView, AlertsManage, AIView},
	"export_reports":    {AnalysisExport, ReportsView, ReportsCreate},
	"calibrate_devices": {DevicesView, DevicesCalibrate},
	"view_realtime":     {RealtimeView},
}

func join(base []Permission, more ...Permission) []Permission {
	return append(slices.Clip(base), more...)
}

// PermissionsOf is the union of the permissions of realm and client roles; unknown
// roles grant nothing.
func PermissionsOf(realmRoles, clientRoles []string) map[Permission]bool {
	out := map[Permission]bool{}
	for _, r := range realmRoles {
		for _, p := range RolePermissions[r] {
			out[p] = true
		}
	}
	for _, r := range clientRoles {
		for _, p := range ClientRolePermissions[r] {
			out[p] = true
		}
	}
	return out
}

// Rule is the permission one route requires. Path is a pattern with {name}
// segments; a trailing slash is not significant (both spellings are served).
type Rule struct {
	Method     string
	Path       string
	Permission Permission
}

// Rules covers every route of every function (TestRulesCoverEveryRoute checks it
// against the OpenAPI fragments). A request matching no rule is refused in enforce
// mode: deny by default.
var Rules = []Rule{
	// probes and documentation (the runtime serves /health/*, /metrics outside the middleware)
	{"GET", "/health", Public},
	{"GET", "/openapi.json", Public},
	{"GET", "/docs", Public},
	{"GET", "/api/sqal/health", Public},
	{"GET", "/v2", Public},
	{"GET", "/v2/health/live", Public},
	{"GET", "/v2/health/ready", Public},

	// ingest: stations authenticate with their device key
	{"GET", "/ws/sensors", DeviceKey},
	{"POST", "/api/ingest/samples", DeviceKey},
	{"POST", "/api/ingest/events", DeviceKey},

	// realtime and predict receive the broker's deliveries (never routed publicly)
	{"GET", "/ws/realtime", RealtimeView},
	{"POST", "/events", Internal},
	{"POST", "/", Internal},

	// sqal-api
	{"GET", "/api/sqal/devices", DashboardView},
	{"GET", "/api/sqal/devices/{device_id}", DashboardView},
	{"GET", "/api/sqal/samples/latest", AnalysisView},
	{"GET", "/api/sqal/samples", AnalysisView},
	{"POST", "/api/sqal/predict", PredictRun},
	{"GET", "/api/sqal/alerts", AlertsView},
	{"POST", "/api/sqal/alerts", AlertsManage},
	{"POST", "/api/sqal/alerts/{alert_id}/acknowledge", AlertsManage},
	{"GET", "/api/sqal/stats/hourly", DashboardView},
	{"GET", "/api/sqal/stats/sites", DashboardView},
	{"GET", "/api/sqal/stats/grade-distribution", DashboardView},
	{"GET", "/api/sqal/dashboard/overview", DashboardView},
	{"GET", "/api/sqal/integration/lot/{lot_id}", LotsView},
	{"GET", "/api/sqal/integration/lots-aggregated", LotsView},
	{"GET", "/api/lots/{lot_id}/qualite", LotsView},

	// analysis-api
	{"GET", "/api/analysis/history", AnalysisView},
	{"GET", "/api/analysis/history/{analysis_id}", AnalysisView},
	{"GET", "/api/analysis/stats", AnalysisView},
	{"GET", "/api/analysis/grade-distribution", AnalysisView},
	{"GET", "/api/analysis/timeseries", AnalysisView},
	{"GET", "/api/analysis/trends/{device_id}", AnalysisView},
	{"GET", "/api/analysis/compare", AnalysisView},
	{"GET", "/api/sensors/vl53l8ch/raw", AnalysisView},
	{"GET", "/api/sensors/vl53l8ch/analysis", AnalysisView},
	{"GET", "/api/sensors/as7341/raw", AnalysisView},
	{"GET", "/api/sensors/as7341/analysis", AnalysisView},
	{"GET", "/api/sensors/fusion", AnalysisView},
	{"GET", "/api/sensors/devices", AnalysisView},
	{"GET", "/api/sensors/devices/{device_id}", AnalysisView},
	{"PATCH", "/api/sensors/devices/{device_id}", DevicesManage},
	{"GET", "/api/dashboard/metrics", DashboardView},
	{"GET", "/api/dashboard/foie-gras-metrics", DashboardView},
	{"GET", "/api/dashboard/foie-gras-alerts", DashboardView},
	{"GET", "/api/export/samples", AnalysisExport},

	// ai-api
	{"GET", "/api/ai/models", AIView},
	{"GET", "/api/ai/models/{id}", AIView},
	{"POST", "/api/ai/models/{id}/activate", AIManage},
	{"POST", "/api/ai/models/{id}/deactivate", AIManage},
	{"POST", "/api/ai/models/{id}/rollback", AIManage},
	{"GET", "/api/ai/training", AIView},
	{"POST", "/api/ai/training", AITrain},
	{"GET", "/api/ai/training/{id}", AIView},
	{"GET", "/api/ai/predictions", AIView},
	{"POST", "/api/ai/predict", PredictRun},
	{"GET", "/api/ai/metrics", AIView},
	{"GET", "/api/ai/datasets", AIView},
	{"POST", "/api/ai/labels", AITrain},

	// reports-api (backend-new §2.6, §2.13, §2.14; §3.4)
	{"GET", "/api/reports", ReportsView},
	{"POST", "/api/reports", ReportsCreate},
	{"GET", "/api/reports/{report_id}", ReportsView},
	{"DELETE", "/api/reports/{report_id}", ReportsCreate},
	{"GET", "/api/reports/{report_id}/download", ReportsView},
	{"GET", "/api/reports/scheduled", ReportsSchedule},
	{"POST", "/api/reports/scheduled", ReportsSchedule},
	{"GET", "/api/reports/scheduled/{schedule_id}", ReportsSchedule},
	{"PATCH", "/api/reports/scheduled/{schedule_id}", ReportsSchedule},
	{"DELETE", "/api/reports/scheduled/{schedule_id}", ReportsSchedule},
	{"GET", "/api/reports/templates", ReportsSchedule},
	{"POST", "/api/reports/templates", ReportsSchedule},
	{"GET", "/api/reports/templates/{template_id}", ReportsSchedule},
	{"PATCH", "/api/reports/templates/{template_id}", ReportsSchedule},
	{"DELETE", "/api/reports/templates/{template_id}", ReportsSchedule},
	{"GET", "/api/firmware/versions", FirmwareManage},
	{"POST", "/api/firmware/versions", FirmwareManage},
	{"GET", "/api/firmware/versions/{version_id}", FirmwareManage},
	{"DELETE", "/api/firmware/versions/{version_id}", FirmwareManage},
	{"GET", "/api/firmware/versions/{version_id}/download", FirmwareManage},
	{"GET", "/api/firmware/ota", FirmwareManage},
	{"POST", "/api/firmware/ota", FirmwareManage},
	{"GET", "/api/firmware/ota/{update_id}", FirmwareManage},
	{"POST", "/api/firmware/ota/{update_id}/cancel", FirmwareManage},
	{"GET", "/api/alerts/rules", AlertsView},
	{"POST", "/api/alerts/rules", AlertRulesManage},
	{"GET", "/api/alerts/rules/{rule_id}", AlertsView},
	{"PUT", "/api/alerts/rules/{rule_id}", AlertRulesManage},
	{"DELETE", "/api/alerts/rules/{rule_id}", AlertRulesManage},

	// predict (Open Inference Protocol v2)
	{"GET", "/v2/models/{name}", AIView},
	{"GET", "/v2/models/{name}/ready", AIView},
	{"POST", "/v2/models/{name}/infer", PredictRun},
	{"GET", "/v2/models/{name}/versions/{version}", AIView},
	{"GET", "/v2/models/{name}/versions/{version}/ready", AIView},
	{"POST", "/v2/models/{name}/versions/{version}/infer", PredictRun},

	// admin-api
	{"GET", "/api/admin/devices", DevicesView},
	{"GET", "/api/admin/devices/{device_id}", DevicesView},
	{"PATCH", "/api/admin/devices/{device_id}", DevicesManage},
	{"DELETE", "/api/admin/devices/{device_id}", DevicesManage},
	{"GET", "/api/admin/devices/{device_id}/keys", DevicesManage},
	{"POST", "/api/admin/devices/{device_id}/keys", DevicesManage},
	{"DELETE", "/api/admin/devices/{device_id}/keys/{key_id}", DevicesManage},
	{"GET", "/api/admin/calibration", DevicesView},
	{"POST", "/api/admin/calibration/start", DevicesCalibrate},
	{"GET", "/api/admin/users", UsersView},
	{"POST", "/api/admin/users", UsersManage},
	{"GET", "/api/admin/users/{user_id}", UsersView},
	{"PATCH", "/api/admin/users/{user_id}", UsersManage},
	{"DELETE", "/api/admin/users/{user_id}", UsersManage},
	{"GET", "/api/admin/audit", AuditView},
	{"GET", "/api/admin/audit/verify", AuditView},
	{"GET", "/api/admin/settings", SettingsView},
	{"PATCH", "/api/admin/settings", SettingsManage},
	{"GET", "/api/organizations", OrganizationsView},
	{"POST", "/api/organizations", OrganizationsAdmin},
	{"GET", "/api/organizations/{org_id}", OrganizationsView},
	{"PATCH", "/api/organizations/{org_id}", OrganizationsManage},
	{"DELETE", "/api/organizations/{org_id}", OrganizationsAdmin},
	{"GET", "/api/users/me", Authenticated},
	{"GET", "/api/users", UsersView},
	{"GET", "/api/users/{user_id}", UsersView},
}

// segments splits a path without its trailing slash.
func segments(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// matchRule returns the rule of method and path; among matching patterns the one
// with the most literal segments wins (/api/users/me over /api/users/{user_id}).
// HEAD is checked as GET.
func matchRule(method, path string) (Rule, bool) {
	if method == "HEAD" {
		method = "GET"
	}
	segs := segments(path)
	best, bestLit := Rule{}, -1
	for _, r := range compiledRules() {
		if r.Method != method {
			continue
		}
		if lit, ok := matchPattern(r.segs, segs); ok && lit > bestLit {
			best, bestLit = r.Rule, lit
		}
	}
	return best, bestLit >= 0
}

type compiledRule struct {
	Rule
	segs []string
}

// compiledRules splits the patterns once (Rules is fixed after init).
var compiledRules = sync.OnceValue(func() []compiledRule {
	out := make([]compiledRule, len(Rules))
	for i, r := range Rules {
		out[i] = compiledRule{Rule: r, segs: segments(r.Path)}
	}
	return out
})

func matchPattern(pat, segs []string) (literal int, ok bool) {
	if len(pat) != len(segs) {
		return 0, false
	}
	for i, p := range pat {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if segs[i] == "" {
				return 0, false
			}
			continue
		}
		if p != segs[i] {
			return 0, false
		}
		literal++
	}
	return literal, true
}
