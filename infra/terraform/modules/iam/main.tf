locals {
  worker   = "serviceAccount:${google_service_account.worker.email}"
  launcher = "serviceAccount:${google_service_account.launcher.email}"

  # Every bucket-level grant of the two service accounts. `prefix` limits a
  # grant to objects under that prefix with an IAM condition.
  bucket_grants = merge(
    {
      worker-results = { bucket = var.results_bucket_name, role = "roles/storage.objectUser", member = local.worker, prefix = null }
      worker-temp    = { bucket = var.temp_bucket_name, role = "roles/storage.objectUser", member = local.worker, prefix = null }
      # Reads SavedModels (models/) and templates; writes Beam staging files only.
      worker-staging-read  = { bucket = var.staging_bucket_name, role = "roles/storage.objectViewer", member = local.worker, prefix = null }
      worker-staging-write = { bucket = var.staging_bucket_name, role = "roles/storage.objectUser", member = local.worker, prefix = "staging/" }
      # Dataflow reads the Flex Template spec with the caller's credentials.
      launcher-staging-read = { bucket = var.staging_bucket_name, role = "roles/storage.objectViewer", member = local.launcher, prefix = null }
    },
    var.uploads_bucket_name == null ? {} : {
      # Read-only: the workers can never change or delete an upload.
      worker-uploads = { bucket = var.uploads_bucket_name, role = "roles/storage.objectViewer", member = local.worker, prefix = null }
    },
  )

  use_cmek = var.kms_key_name != null
}

resource "google_service_account" "worker" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-worker"
  display_name = "Re-scan Dataflow worker"
  description  = "Runs the Flex Template launcher VM and the Dataflow workers of re-scan jobs."
}

resource "google_service_account" "launcher" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-launcher"
  display_name = "Re-scan job launcher"
  description  = "Starts re-scan Dataflow jobs that run as the worker service account."
}

# Project-level roles: the only ones Dataflow cannot take on a narrower resource.
resource "google_project_iam_member" "worker_dataflow" {
  project = var.project_id
  role    = "roles/dataflow.worker"
  member  = local.worker
}

resource "google_project_iam_member" "launcher_dataflow" {
  #checkov:skip=CKV_GCP_49:Creating Dataflow jobs needs dataflow.jobs.create, which exists only at project level; dataflow.developer holds no iam.serviceAccounts permission, and actAs is granted on the worker account alone below.
  project = var.project_id
  role    = "roles/dataflow.developer"
  member  = local.launcher
}

# actAs on the worker account only, so the launcher cannot run jobs as any
# other identity.
resource "google_service_account_iam_member" "launcher_acts_as_worker" {
  service_account_id = google_service_account.worker.name
  role               = "roles/iam.serviceAccountUser"
  member             = local.launcher
}

resource "google_service_account_iam_member" "launcher_impersonators" {
  for_each = toset(var.launcher_principals)

  service_account_id = google_service_account.launcher.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = each.value
}

resource "google_storage_bucket_iam_member" "bucket" {
  for_each = local.bucket_grants

  bucket = each.value.bucket
  role   = each.value.role
  member = each.value.member

  dynamic "condition" {
    for_each = each.value.prefix == null ? [] : [each.value.prefix]
    content {
      title       = "only-${trimsuffix(condition.value, "/")}"
      description = "Objects under ${condition.value} only"
      expression  = "resource.name.startsWith(\"projects/_/buckets/${each.value.bucket}/objects/${condition.value}\")"
    }
  }
}

# ---------------------------------------------------------------------------
# CMEK: the Google service agents that encrypt on our behalf need the key.
# ---------------------------------------------------------------------------

data "google_project" "this" {
  count      = local.use_cmek ? 1 : 0
  project_id = var.project_id
}

data "google_storage_project_service_account" "this" {
  count   = local.use_cmek ? 1 : 0
  project = var.project_id
}

data "google_bigquery_default_service_account" "this" {
  count   = local.use_cmek ? 1 : 0
  project = var.project_id
}

locals {
  project_number = local.use_cmek ? data.google_project.this[0].number : ""
  kms_agents = local.use_cmek ? {
    storage          = data.google_storage_project_service_account.this[0].email_address
    bigquery         = data.google_bigquery_default_service_account.this[0].email
    artifactregistry = "service-${local.project_number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
    dataflow         = "service-${local.project_number}@dataflow-service-producer-prod.iam.gserviceaccount.com"
    compute          = "service-${local.project_number}@compute-system.iam.gserviceaccount.com"
  } : {}
}

resource "google_kms_crypto_key_iam_member" "service_agents" {
  for_each = local.kms_agents

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:${each.value}"
}
