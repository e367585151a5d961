variable "project_id" {
  type        = string
  description = "Project that runs the jobs and owns the repository."
}

variable "region" {
  type        = string
  description = "Region of the repository and the Dataflow job."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the job name (PREFIX-SCAN_ID)."
}

variable "repository_id" {
  type        = string
  description = "Id of the Artifact Registry Docker repository."
}

variable "kms_key_name" {
  type        = string
  description = "Optional Cloud KMS key for the repository and the job's data; null means Google-managed keys."
  default     = null
}

variable "worker_service_account_email" {
  type        = string
  description = "Service account the launcher VM and the workers run as."
}

variable "subnetwork_self_link" {
  type        = string
  description = "Worker subnet (private IPs only)."
}

variable "results_bucket_name" {
  type        = string
  description = "Results bucket; the pipeline's output root is its top level."
}

variable "temp_bucket_name" {
  type        = string
  description = "Bucket for the job's temp_location."
}

variable "staging_bucket_name" {
  type        = string
  description = "Bucket for the job's staging_location and the default template path."
}

variable "create_job" {
  type        = bool
  description = "Launch the scan as a Flex Template job."
  default     = false
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
  description = "Scan parameters passed to the pipeline (validated by the root module); required when create_job is true."
  default     = null
}

variable "image_tag" {
  type        = string
  description = "Tag of REPOSITORY/rescan that the workers run; required when create_job is true."
  default     = null
}

variable "template_gcs_path" {
  type        = string
  description = "gs:// path of the Flex Template spec; null means gs://STAGING_BUCKET/templates/rescan.json."
  default     = null
}

variable "worker_machine_type" {
  type        = string
  description = "Machine type of the workers."
}

variable "accelerator_type" {
  type        = string
  description = "GPU type per worker."
}

variable "accelerator_count" {
  type        = number
  description = "GPUs per worker."
}

variable "num_workers" {
  type        = number
  description = "Initial number of workers."
}

variable "max_workers" {
  type        = number
  description = "Maximum number of workers."
}
