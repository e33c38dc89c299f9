# One customer-managed key for this deployment's data at rest: secrets, log groups, the image
# repository, Redis and the alarm topic. The key policy is a resource policy: its "*" resource
# means "this key". The account root keeps administration so the key can never be orphaned;
# CloudWatch Logs may use it only for this deployment's log groups, CloudWatch alarms only to
# publish to the encrypted topic. Everything else uses it through IAM with kms:ViaService.

locals {
  root_arn = "arn:${var.partition}:iam::${var.account_id}:root"
}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:Key policy: "*" is this key, and the account root must administer it.
  #checkov:skip=CKV_AWS_111:Key policy: "*" is this key, and the account root must administer it.
  #checkov:skip=CKV_AWS_356:Key policy: "*" is this key; a key policy cannot name the key's own ARN.
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
  }

  statement {
    sid = "LogsEncryptThisDeploymentsLogGroups"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        for prefix in var.log_group_name_prefixes :
        "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:${prefix}*"
      ]
    }
  }

  statement {
    sid       = "AlarmsPublishToTheEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${var.name}: secrets, logs, images, Redis and alarms at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
