variable "project_id" {
  type        = string
  description = "Project that owns the buckets."
}

variable "location" {
  type        = string
  description = "Bucket location (a region, so that Dataflow workers and BigQuery read locally)."
}

variable "bucket_prefix" {
  type        = string
  description = "Globally unique prefix of the bucket names (validated by the root module)."
}

variable "kms_key_name" {
  type        = string
  description = "Optional Cloud KMS key used as default encryption key of every bucket; null means Google-managed keys."
  default     = null
}

variable "results_retention_days" {
  type        = number
  description = "Retention policy of the results bucket in days; 0 disables it and keeps Object Versioning on instead."
  default     = 0
}

variable "results_noncurrent_version_days" {
  type        = number
  description = "Days a noncurrent results object version is kept before deletion."
  default     = 30
}

variable "scratch_object_age_days" {
  type        = number
  description = "Age in days after which scratch objects (temp bucket, staging/ prefix) are deleted."
  default     = 7
}

variable "access_log_retention_days" {
  type        = number
  description = "Age in days after which access logs are deleted."
  default     = 365
}
