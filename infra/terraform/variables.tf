# ---------------------------------------------------------------------------
# Project and naming
# ---------------------------------------------------------------------------

variable "project_id" {
  type        = string
  description = "Google Cloud project that hosts the re-scan deployment."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be 6-30 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region for the buckets, the network, the Dataflow job, the image repository and the BigQuery dataset (for example europe-west4)."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must look like europe-west4 or us-central1."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of service account ids, network, firewall and job names."
  default     = "rescan"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-20 characters: lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "labels" {
  type        = map(string)
  description = "Extra labels put on every resource that supports labels (added to app and managed-by)."
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))
    ])
    error_message = "Label keys must start with a lowercase letter; keys and values may hold only lowercase letters, digits, '_' and '-' (at most 63 characters)."
  }
}

variable "kms_key_name" {
  type        = string
  description = "Optional Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) that encrypts the buckets, the image repository, the BigQuery dataset and the Dataflow job. The key must be in var.region. Null means Google-managed keys."
  default     = null

  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[a-z0-9-]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must have the form projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

# ---------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------

variable "bucket_prefix" {
  type        = string
  description = "Globally unique prefix of the bucket names: PREFIX-results, PREFIX-dataflow-temp, PREFIX-dataflow-staging and PREFIX-access-logs."

  validation {
    # 63 characters minus the longest suffix, "-dataflow-staging" (17).
    condition = alltrue([
      can(regex("^[a-z0-9][a-z0-9-]{1,44}[a-z0-9]$", var.bucket_prefix)),
      !startswith(var.bucket_prefix, "goog"),
      !strcontains(var.bucket_prefix, "google"),
    ])
    error_message = "bucket_prefix must be 3-46 characters of lowercase letters, digits and hyphens, start and end with a letter or digit, and neither start with \"goog\" nor contain \"google\"."
  }
}

variable "uploads_bucket_name" {
  type        = string
  description = "Optional name of the EXISTING bucket that holds the uploaded videos. The worker gets read-only access (roles/storage.objectViewer); the bucket itself is not managed or changed. Null grants nothing."
  default     = null

  validation {
    condition = var.uploads_bucket_name == null ? true : alltrue([
      can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.uploads_bucket_name)),
      !startswith(var.uploads_bucket_name, "goog"),
    ])
    error_message = "uploads_bucket_name must be a valid bucket name: 3-63 characters of lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit, not starting with \"goog\"."
  }
}

variable "results_retention_days" {
  type        = number
  description = "Retention policy of the results bucket in days: objects cannot be deleted or overwritten before this age. 0 disables it. Cloud Storage does not allow Object Versioning together with a retention policy, so a value > 0 turns versioning off. Beam deletes its temporary files under the output root when a write finishes, which a retention policy forbids; enable only with a pipeline that keeps temporary files elsewhere."
  default     = 0

  validation {
    condition     = var.results_retention_days >= 0 && var.results_retention_days <= 36500 && floor(var.results_retention_days) == var.results_retention_days
    error_message = "results_retention_days must be a whole number of days between 0 and 36500."
  }
}

variable "results_noncurrent_version_days" {
  type        = number
  description = "Days a deleted or overwritten results object is kept as a noncurrent version before it is purged."
  default     = 30

  validation {
    condition     = var.results_noncurrent_version_days > 0 && floor(var.results_noncurrent_version_days) == var.results_noncurrent_version_days
    error_message = "results_noncurrent_version_days must be a positive whole number."
  }
}

variable "scratch_object_age_days" {
  type        = number
  description = "Age in days after which objects in the Dataflow temp bucket, and under staging/ in the staging bucket, are deleted."
  default     = 7

  validation {
    condition     = var.scratch_object_age_days > 0 && floor(var.scratch_object_age_days) == var.scratch_object_age_days
    error_message = "scratch_object_age_days must be a positive whole number."
  }
}

variable "access_log_retention_days" {
  type        = number
  description = "Age in days after which bucket access logs are deleted."
  default     = 365

  validation {
    condition     = var.access_log_retention_days > 0 && floor(var.access_log_retention_days) == var.access_log_retention_days
    error_message = "access_log_retention_days must be a positive whole number."
  }
}

# ---------------------------------------------------------------------------
# Identities
# ---------------------------------------------------------------------------

variable "reviewer_group" {
  type        = string
  description = "Email of the Google group of reviewers. It gets read-only access to the results bucket and the BigQuery dataset, and may run BigQuery jobs in the project."

  validation {
    condition     = can(regex("^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$", var.reviewer_group))
    error_message = "reviewer_group must be a plain group email address such as content-reviewers@example.com (no \"group:\" prefix)."
  }
}

variable "launcher_principals" {
  type        = list(string)
  description = "Principals (user:, group: or serviceAccount:) that may impersonate the launcher service account to start scans. Empty grants nothing."
  default     = []

  validation {
    condition = alltrue([
      for m in var.launcher_principals : can(regex("^(user|group|serviceAccount):[^@\\s]+@[^@\\s]+$", m))
    ])
    error_message = "Each launcher principal must be user:EMAIL, group:EMAIL or serviceAccount:EMAIL; public principals are not accepted."
  }
}

# ---------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------

variable "subnet_cidr" {
  type        = string
  description = "Primary IPv4 range of the worker subnet."
  default     = "10.64.0.0/20"

  validation {
    condition     = can(cidrhost(var.subnet_cidr, 0)) && can(regex("^[0-9.]+/[0-9]+$", var.subnet_cidr))
    error_message = "subnet_cidr must be an IPv4 CIDR block such as 10.64.0.0/20."
  }
}

variable "enable_nat" {
  type        = bool
  description = "Create a Cloud Router and Cloud NAT for the worker subnet. Workers need no internet access (Google APIs and Artifact Registry are reached through Private Google Access), so this stays off unless the pipeline must reach the internet."
  default     = false
}

# ---------------------------------------------------------------------------
# Image and job
# ---------------------------------------------------------------------------

variable "artifact_repository_id" {
  type        = string
  description = "Id of the Artifact Registry Docker repository for the Flex Template image."
  default     = "rescan"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,61}[a-z0-9]$", var.artifact_repository_id))
    error_message = "artifact_repository_id must be 2-63 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "create_job" {
  type        = bool
  description = "Launch the scan described by var.scan as a Dataflow Flex Template job. Build and push the image and the template first (see README)."
  default     = false
}

variable "image_tag" {
  type        = string
  description = "Tag of the rescan image in the repository; the workers run this image (sdk_container_image). Required when create_job is true. Tags are immutable, so use a release or commit id."
  default     = null

  validation {
    condition     = var.image_tag == null || can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid Docker tag (letters, digits, '_', '.', '-'; at most 128 characters)."
  }
}

variable "template_gcs_path" {
  type        = string
  description = "gs:// path of the Flex Template spec. Null means gs://BUCKET_PREFIX-dataflow-staging/templates/rescan.json."
  default     = null

  validation {
    condition     = var.template_gcs_path == null || can(regex("^gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]/.+\\.json$", var.template_gcs_path))
    error_message = "template_gcs_path must be a gs:// URI of a .json file."
  }
}

variable "scan" {
  type = object({
    input             = string
    model             = string
    scan_id           = string
    fps               = optional(number)
    threshold         = optional(number)
    segment_seconds   = optional(number)
    batch_size        = optional(number)
    merge_gap_seconds = optional(number)
    min_clip_seconds  = optional(number)
    max_pixels        = optional(number)
  })
  description = "The scan to launch when create_job is true: input file pattern or manifest, SavedModel directory, scan id, and optional tuning that overrides the pipeline defaults. The output root is always the results bucket."
  default     = null

  validation {
    condition     = var.scan == null ? true : startswith(var.scan.input, "gs://") && startswith(var.scan.model, "gs://")
    error_message = "scan.input and scan.model must be gs:// URIs."
  }

  validation {
    # Same rule as the pipeline's --scan_id: it names a hive partition.
    condition     = var.scan == null ? true : can(regex("^[^./\\\\=][^/\\\\=]{0,99}$", var.scan.scan_id))
    error_message = "scan.scan_id must be 1-100 characters without '/', '\\' or '=', not starting with '.'."
  }

  validation {
    condition     = var.scan == null ? true : (var.scan.threshold == null ? true : var.scan.threshold >= 0 && var.scan.threshold <= 1)
    error_message = "scan.threshold must be between 0 and 1."
  }

  validation {
    condition = var.scan == null ? true : alltrue([
      for v in [var.scan.fps, var.scan.segment_seconds, var.scan.batch_size, var.scan.max_pixels] : v == null ? true : v > 0
    ])
    error_message = "scan.fps, scan.segment_seconds, scan.batch_size and scan.max_pixels must be positive."
  }

  validation {
    condition = var.scan == null ? true : alltrue([
      for v in [var.scan.batch_size, var.scan.max_pixels] : v == null ? true : floor(v) == v
    ])
    error_message = "scan.batch_size and scan.max_pixels must be whole numbers."
  }

  validation {
    condition = var.scan == null ? true : alltrue([
      for v in [var.scan.merge_gap_seconds, var.scan.min_clip_seconds] : v == null ? true : v >= 0
    ])
    error_message = "scan.merge_gap_seconds and scan.min_clip_seconds must not be negative."
  }
}

variable "worker_machine_type" {
  type        = string
  description = "Machine type of the Dataflow workers. It must fit the accelerator: g2-* for nvidia-l4, a2-* for A100, a3-* for H100, n1-* for T4, V100, P100 and P4."
  default     = "g2-standard-8"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]*-[a-z]+(-[0-9]+[a-z]*)*$", var.worker_machine_type))
    error_message = "worker_machine_type must be a Compute Engine machine type such as g2-standard-8 or n1-standard-8."
  }
}

variable "accelerator_type" {
  type        = string
  description = "GPU type attached to each worker."
  default     = "nvidia-l4"

  validation {
    condition = contains([
      "nvidia-l4",
      "nvidia-tesla-t4",
      "nvidia-tesla-a100",
      "nvidia-a100-80gb",
      "nvidia-tesla-v100",
      "nvidia-tesla-p100",
      "nvidia-tesla-p4",
      "nvidia-h100-80gb",
    ], var.accelerator_type)
    error_message = "accelerator_type must be one of nvidia-l4, nvidia-tesla-t4, nvidia-tesla-a100, nvidia-a100-80gb, nvidia-tesla-v100, nvidia-tesla-p100, nvidia-tesla-p4, nvidia-h100-80gb."
  }
}

variable "accelerator_count" {
  type        = number
  description = "Number of GPUs per worker."
  default     = 1

  validation {
    condition     = contains([1, 2, 4, 8, 16], var.accelerator_count)
    error_message = "accelerator_count must be 1, 2, 4, 8 or 16 (the counts Compute Engine attaches)."
  }
}

variable "num_workers" {
  type        = number
  description = "Initial number of workers."
  default     = 1

  validation {
    condition     = var.num_workers > 0 && floor(var.num_workers) == var.num_workers
    error_message = "num_workers must be a positive whole number."
  }
}

variable "max_workers" {
  type        = number
  description = "Upper bound for autoscaling; also caps GPU quota use (max_workers x accelerator_count GPUs)."
  default     = 10

  validation {
    condition     = var.max_workers > 0 && var.max_workers <= 1000 && floor(var.max_workers) == var.max_workers
    error_message = "max_workers must be a whole number between 1 and 1000."
  }
}

# ---------------------------------------------------------------------------
# Review (BigQuery)
# ---------------------------------------------------------------------------

variable "bigquery_dataset_id" {
  type        = string
  description = "Id of the BigQuery dataset holding the external tables over the results."
  default     = "rescan_results"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]{0,1023}$", var.bigquery_dataset_id))
    error_message = "bigquery_dataset_id may hold only letters, digits and underscores, and must not start with a digit."
  }
}

variable "external_tables" {
  type        = set(string)
  description = "Result datasets to expose as BigQuery external tables. BigQuery reads the schema from the Parquet files when a table is created, so add a name only once a scan has written files under RESULTS/NAME/ (and re-create a table to see columns added later, e.g. modality and audio_* from --audio-model)."
  default     = []

  validation {
    condition     = alltrue([for t in var.external_tables : contains(["flagged_clips", "videos", "hash_matches", "frame_scores"], t)])
    error_message = "external_tables may contain only flagged_clips, videos, hash_matches and frame_scores."
  }
}

variable "hive_partitioning" {
  type        = bool
  description = "Expose the scan=<ID> folders as a STRING partition column scan (the files carry their own scan_id column; the folder key differs so the two do not clash)."
  default     = true
}
