locals {
  labels = merge({ app = "archive-rescan", managed-by = "terraform" }, var.labels)
}

provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = local.labels
}

provider "google-beta" {
  project        = var.project_id
  region         = var.region
  default_labels = local.labels
}

module "network" {
  source = "./modules/network"

  project_id  = var.project_id
  region      = var.region
  name_prefix = var.name_prefix
  subnet_cidr = var.subnet_cidr
  enable_nat  = var.enable_nat
}

module "storage" {
  source = "./modules/storage"

  project_id    = var.project_id
  location      = var.region
  bucket_prefix = var.bucket_prefix
  # Read through module.iam so that buckets are created only after the
  # storage service agent may use the key.
  kms_key_name = module.iam.kms_key_name

  results_retention_days          = var.results_retention_days
  results_noncurrent_version_days = var.results_noncurrent_version_days
  scratch_object_age_days         = var.scratch_object_age_days
  access_log_retention_days       = var.access_log_retention_days
}

module "iam" {
  source = "./modules/iam"

  project_id          = var.project_id
  name_prefix         = var.name_prefix
  kms_key_name        = var.kms_key_name
  uploads_bucket_name = var.uploads_bucket_name
  results_bucket_name = module.storage.results_bucket_name
  temp_bucket_name    = module.storage.temp_bucket_name
  staging_bucket_name = module.storage.staging_bucket_name
  launcher_principals = var.launcher_principals
}

module "dataflow" {
  source = "./modules/dataflow"

  project_id                   = var.project_id
  region                       = var.region
  name_prefix                  = var.name_prefix
  kms_key_name                 = module.iam.kms_key_name
  repository_id                = var.artifact_repository_id
  worker_service_account_email = module.iam.worker_service_account_email
  subnetwork_self_link         = module.network.subnetwork_self_link
  results_bucket_name          = module.storage.results_bucket_name
  temp_bucket_name             = module.storage.temp_bucket_name
  staging_bucket_name          = module.storage.staging_bucket_name

  create_job          = var.create_job
  scan                = var.scan
  image_tag           = var.image_tag
  template_gcs_path   = var.template_gcs_path
  worker_machine_type = var.worker_machine_type
  accelerator_type    = var.accelerator_type
  accelerator_count   = var.accelerator_count
  num_workers         = var.num_workers
  max_workers         = var.max_workers

  # The job must not start before the worker may read and write its buckets.
  depends_on = [module.iam]
}

module "review" {
  source = "./modules/review"

  project_id          = var.project_id
  location            = var.region
  dataset_id          = var.bigquery_dataset_id
  kms_key_name        = module.iam.kms_key_name
  results_bucket_name = module.storage.results_bucket_name
  reviewer_group      = var.reviewer_group
  external_tables     = var.external_tables
  hive_partitioning   = var.hive_partitioning
}
