variable "project_id" {
  type        = string
  description = "Project that owns the dataset and where reviewers run queries."
}

variable "location" {
  type        = string
  description = "Dataset location; it must match the results bucket's location."
}

variable "dataset_id" {
  type        = string
  description = "Id of the BigQuery dataset."
}

variable "kms_key_name" {
  type        = string
  description = "Optional Cloud KMS key used as the dataset's default key; null means Google-managed keys."
  default     = null
}

variable "results_bucket_name" {
  type        = string
  description = "Results bucket the external tables read from."
}

variable "reviewer_group" {
  type        = string
  description = "Email of the reviewers' Google group (without the group: prefix)."
}

variable "external_tables" {
  type        = set(string)
  description = "Result datasets (folders under the results bucket) to expose as external tables."
  default     = []
}

variable "hive_partitioning" {
  type        = bool
  description = "Expose the scan=<ID> folders as a STRING partition column scan."
  default     = true
}
