locals {
  reviewers = "group:${var.reviewer_group}"
}

resource "google_bigquery_dataset" "results" {
  project                    = var.project_id
  dataset_id                 = var.dataset_id
  location                   = var.location
  friendly_name              = "Archive re-scan results"
  description                = "External tables over the re-scan Parquet outputs in gs://${var.results_bucket_name}. Read-only for reviewers."
  delete_contents_on_destroy = false

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
}

# One external table per result dataset, read straight from the Parquet
# files; BigQuery takes the schema from the files.
resource "google_bigquery_table" "results" {
  #checkov:skip=CKV_GCP_80:External table: BigQuery stores no table data; the Parquet files are encrypted by the results bucket's key.
  for_each = var.external_tables

  project             = var.project_id
  dataset_id          = google_bigquery_dataset.results.dataset_id
  table_id            = each.key
  description         = "Parquet files under gs://${var.results_bucket_name}/${each.key}/, one scan=<ID> folder per scan."
  deletion_protection = true

  external_data_configuration {
    source_format = "PARQUET"
    autodetect    = true
    source_uris   = ["gs://${var.results_bucket_name}/${each.key}/*"]

    dynamic "hive_partitioning_options" {
      for_each = var.hive_partitioning ? [each.key] : []
      content {
        mode                     = "CUSTOM"
        source_uri_prefix        = "gs://${var.results_bucket_name}/${hive_partitioning_options.value}/{scan:STRING}"
        require_partition_filter = false
      }
    }
  }
}

# ---------------------------------------------------------------------------
# Reviewers: read the results, nothing else.
# ---------------------------------------------------------------------------

# External tables are read with the caller's credentials, so querying needs
# object read access too; it also lets reviewers open thumbnails and clips.
resource "google_storage_bucket_iam_member" "reviewers_read_results" {
  bucket = var.results_bucket_name
  role   = "roles/storage.objectViewer"
  member = local.reviewers
}

# Authoritative for the reader role: reviewers are the only dataset-level
# readers (this also drops BigQuery's implicit projectReaders entry).
resource "google_bigquery_dataset_iam_binding" "reviewers_read_dataset" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.results.dataset_id
  role       = "roles/bigquery.dataViewer"
  members    = [local.reviewers]
}

# Running a query is a BigQuery job, which is created at project level. The
# role carries no data access of its own.
resource "google_project_iam_member" "reviewers_run_queries" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = local.reviewers
}
