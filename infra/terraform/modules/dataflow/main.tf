locals {
  repository_url    = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
  template_gcs_path = coalesce(var.template_gcs_path, "gs://${var.staging_bucket_name}/templates/rescan.json")
  scan_id           = try(var.scan.scan_id, "")

  # Keys are the pipeline's flags (pipeline/scan/options.py) or Beam pipeline
  # options; tests/test_terraform.py checks both. Null values are dropped,
  # so the pipeline's own defaults apply.
  pipeline_parameters = {
    input             = try(var.scan.input, null)
    output            = "gs://${var.results_bucket_name}"
    model             = try(var.scan.model, null)
    scan_id           = try(var.scan.scan_id, null)
    fps               = try(tostring(var.scan.fps), null)
    threshold         = try(tostring(var.scan.threshold), null)
    segment_seconds   = try(tostring(var.scan.segment_seconds), null)
    batch_size        = try(tostring(var.scan.batch_size), null)
    merge_gap_seconds = try(tostring(var.scan.merge_gap_seconds), null)
    min_clip_seconds  = try(tostring(var.scan.min_clip_seconds), null)
    max_pixels        = try(tostring(var.scan.max_pixels), null)

    dataflow_service_options = "worker_accelerator=type:${var.accelerator_type};count:${var.accelerator_count};install-nvidia-driver"
  }
}

resource "google_artifact_registry_repository" "images" {
  project       = var.project_id
  location      = var.region
  repository_id = var.repository_id
  format        = "DOCKER"
  description   = "Flex Template and worker images of the archive re-scan pipeline."
  kms_key_name  = var.kms_key_name

  docker_config {
    # A tag always names the same image, so a scan can be reproduced.
    immutable_tags = true
  }
}

# The launcher VM and the workers pull the image as the worker account.
resource "google_artifact_registry_repository_iam_member" "worker_reader" {
  project    = var.project_id
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${var.worker_service_account_email}"
}

resource "google_dataflow_flex_template_job" "scan" {
  count    = var.create_job ? 1 : 0
  provider = google-beta

  project                 = var.project_id
  region                  = var.region
  name                    = "${var.name_prefix}-${trim(replace(lower(local.scan_id), "/[^a-z0-9-]+/", "-"), "-")}"
  container_spec_gcs_path = local.template_gcs_path
  sdk_container_image     = "${local.repository_url}/rescan:${coalesce(var.image_tag, "unset")}"

  parameters = { for k, v in local.pipeline_parameters : k => v if v != null }

  service_account_email = var.worker_service_account_email
  subnetwork            = var.subnetwork_self_link
  ip_configuration      = "WORKER_IP_PRIVATE"
  kms_key_name          = var.kms_key_name
  temp_location         = "gs://${var.temp_bucket_name}/temp"
  staging_location      = "gs://${var.staging_bucket_name}/staging"

  machine_type = var.worker_machine_type
  num_workers  = var.num_workers
  max_workers  = var.max_workers

  labels = { scan-id = substr(trim(replace(lower(local.scan_id), "/[^a-z0-9_-]+/", "-"), "-"), 0, 63) }

  on_delete                    = "cancel"
  skip_wait_on_job_termination = false

  depends_on = [google_artifact_registry_repository_iam_member.worker_reader]

  lifecycle {
    precondition {
      condition     = var.scan != null && var.image_tag != null
      error_message = "create_job = true needs scan and image_tag."
    }
  }
}
