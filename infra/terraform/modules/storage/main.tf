locals {
  # Scratch buckets: Dataflow temp files, and Beam staging files next to the
  # Flex Template specs (templates/) and SavedModels (models/). Only the
  # listed prefixes expire; an empty list expires the whole bucket.
  scratch_buckets = {
    temp    = { name = "${var.bucket_prefix}-dataflow-temp", expiring_prefixes = [] }
    staging = { name = "${var.bucket_prefix}-dataflow-staging", expiring_prefixes = ["staging/"] }
  }
}

# Receives the access logs of the other buckets.
resource "google_storage_bucket" "logs" {
  #checkov:skip=CKV_GCP_62:This bucket is the access-log sink; logging it into itself would log its own log writes.
  project                     = var.project_id
  name                        = "${var.bucket_prefix}-access-logs"
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = var.access_log_retention_days
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }
}

# Cloud Storage writes usage logs as this Google-owned group; with uniform
# bucket-level access it needs an IAM grant instead of an object ACL.
resource "google_storage_bucket_iam_member" "logs_writer" {
  bucket = google_storage_bucket.logs.name
  role   = "roles/storage.objectCreator"
  member = "group:cloud-storage-analytics@google.com"
}

resource "google_storage_bucket" "results" {
  project                     = var.project_id
  name                        = "${var.bucket_prefix}-results"
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # Cloud Storage refuses versioning on a bucket with a retention policy.
  versioning {
    enabled = var.results_retention_days == 0
  }

  dynamic "retention_policy" {
    for_each = var.results_retention_days > 0 ? [var.results_retention_days] : []
    content {
      retention_period = retention_policy.value * 86400
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.results_noncurrent_version_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  logging {
    log_bucket        = google_storage_bucket.logs.name
    log_object_prefix = "results/"
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }
}

resource "google_storage_bucket" "scratch" {
  #checkov:skip=CKV_GCP_78:Scratch buckets hold disposable Dataflow temp and staging files that lifecycle rules delete; versions would only keep deleted scratch data around.
  for_each = local.scratch_buckets

  project                     = var.project_id
  name                        = each.value.name
  location                    = var.location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  lifecycle_rule {
    condition {
      age            = var.scratch_object_age_days
      matches_prefix = each.value.expiring_prefixes
    }
    action {
      type = "Delete"
    }
  }

  logging {
    log_bucket        = google_storage_bucket.logs.name
    log_object_prefix = "${each.key}/"
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }
}
