variable "project_id" {
  type        = string
  description = "Project that owns the service accounts."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the service account ids (PREFIX-worker, PREFIX-launcher)."
}

variable "uploads_bucket_name" {
  type        = string
  description = "Existing bucket of uploaded videos the worker may read; null grants nothing. The bucket itself is not managed."
  default     = null
}

variable "results_bucket_name" {
  type        = string
  description = "Results bucket the worker writes to."
}

variable "temp_bucket_name" {
  type        = string
  description = "Dataflow temp bucket the worker writes to."
}

variable "staging_bucket_name" {
  type        = string
  description = "Staging bucket: the worker reads it and writes under staging/; the launcher reads templates from it."
}

variable "launcher_principals" {
  type        = list(string)
  description = "Members (user:, group:, serviceAccount:) allowed to impersonate the launcher service account."
  default     = []
}

variable "kms_key_name" {
  type        = string
  description = "Optional Cloud KMS key; when set, the storage, BigQuery, Artifact Registry, Dataflow and Compute Engine service agents may encrypt and decrypt with it."
  default     = null
}
