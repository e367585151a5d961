resource "google_compute_network" "this" {
  project                 = var.project_id
  name                    = "${var.name_prefix}-vpc"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
  # The default route stays: Private Google Access sends API traffic through
  # it, and without external IPs or NAT nothing else can leave the network.
}

resource "google_compute_subnetwork" "workers" {
  project       = var.project_id
  name          = "${var.name_prefix}-workers"
  region        = var.region
  network       = google_compute_network.this.id
  ip_cidr_range = var.subnet_cidr

  # Workers have no external IPs; they reach Cloud Storage, Artifact
  # Registry, BigQuery and the Dataflow service through Google's network.
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_5_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Dataflow workers carry the network tag "dataflow" and shuffle data between
# each other on TCP 12345-12346. Nothing else may reach them: the VPC's
# implied rule denies all other ingress.
resource "google_compute_firewall" "dataflow_internal" {
  project     = var.project_id
  name        = "${var.name_prefix}-dataflow-internal"
  network     = google_compute_network.this.id
  description = "Dataflow worker-to-worker traffic inside the VPC only."
  direction   = "INGRESS"
  priority    = 1000

  source_tags = ["dataflow"]
  target_tags = ["dataflow"]

  allow {
    protocol = "tcp"
    ports    = ["12345-12346"]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# Optional egress to the internet, off by default.
resource "google_compute_router" "nat" {
  count = var.enable_nat ? 1 : 0

  project = var.project_id
  name    = "${var.name_prefix}-router"
  region  = var.region
  network = google_compute_network.this.id
}

resource "google_compute_router_nat" "nat" {
  count = var.enable_nat ? 1 : 0

  project                            = var.project_id
  name                               = "${var.name_prefix}-nat"
  region                             = var.region
  router                             = google_compute_router.nat[0].name
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"

  subnetwork {
    name                    = google_compute_subnetwork.workers.id
    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]
  }

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}
