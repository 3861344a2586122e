// Package models embeds the bundled models so that the binary (and the
// demo) needs no files at run time: an XGBoost fraud model for transactions
// and an XGBoost account-takeover model for activity events, each with its
// features file. train.py made both; see the README to retrain.
package models
